"""The shapes world and the small MiniGPT-5 trained on it (the bundled default model).

    python -m minigpt5_core.shapes train --out out/shapes     every training phase, resumable
    python -m minigpt5_core.shapes eval                        the evaluation table of the shipped model

`world` is the deterministic toy world (pictures, captions, stories); `train` trains the generator
(the SD analog), the MiniGPT-4 analog and MiniGPT-5 stages 1 and 2 with `minigpt5_core`'s own
losses; `judge` is the small classifier that scores pictures; `evaluate` prints the table.
"""

from .world import (
    COLOURS,
    PICTURE_SIZE,
    SHAPES,
    SIZES,
    SLOTS,
    STORY_STEPS,
    Scene,
    ShapesWorld,
    StoryStep,
    Thing,
    apply_narration,
    describe,
    render,
)

__all__ = [
    "COLOURS", "PICTURE_SIZE", "SHAPES", "SIZES", "SLOTS", "STORY_STEPS", "Scene", "ShapesWorld", "StoryStep",
    "Thing", "apply_narration", "describe", "render",
]
