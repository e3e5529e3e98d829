"""Shapes world: a deterministic, seeded toy world of 64x64 pictures and 5-step stories.

No real data or pretrained weights can be downloaded here, yet we must show that the method learns
(vokens that carry meaning into the image generator, two-stage training, guidance). This world makes
that measurable on a CPU: every picture has exact ground truth (shape, colour, size, position of one
or two objects), and every story step is narrated in plain English.

Samples come out in the same forms as the real datasets — (caption, image) pairs like CC3M and
5-step (caption, image) stories like VIST — so the prompt builders and training code run unchanged.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30)}
SIZES = {"small": 8, "large": 12}  # half-width in pixels
SLOTS = {"left": 14, "middle": 32, "right": 50}  # centre x in pixels; objects sit on one row
PICTURE_SIZE = 64
BACKGROUND = (245, 245, 240)
STORY_STEPS = 5


@dataclass(frozen=True)
class Thing:
    """One object in a picture; all four attributes are ground truth for evaluation."""

    shape: str
    colour: str
    size: str
    slot: str

    def name(self) -> str:
        return f"{self.size} {self.colour} {self.shape}"


Scene = tuple[Thing, ...]


def render(scene: Scene, size: int = PICTURE_SIZE) -> Image.Image:
    """Draw a scene (objects sorted left to right) on a plain background."""
    scale = size / PICTURE_SIZE
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for thing in scene:
        cx, cy, r = SLOTS[thing.slot] * scale, 32 * scale, SIZES[thing.size] * scale
        fill = COLOURS[thing.colour]
        if thing.shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        elif thing.shape == "square":
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return image


def describe(scene: Scene) -> str:
    """A caption of a whole picture, e.g. "a small red circle on the left and a large blue square on the right"."""
    if not scene:
        return "an empty picture"
    parts = [f"a {t.name()} {'in the middle' if t.slot == 'middle' else 'on the ' + t.slot}" for t in _ordered(scene)]
    return " and ".join(parts)


def _ordered(scene: Scene) -> Scene:
    return tuple(sorted(scene, key=lambda t: SLOTS[t.slot]))


def _where(slot: str) -> str:
    return "in the middle" if slot == "middle" else f"on the {slot}"


def _random_thing(rng: random.Random, free_slots: list[str], avoid: Scene = ()) -> Thing:
    while True:
        thing = Thing(rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(list(SIZES)), rng.choice(free_slots))
        if all((thing.shape, thing.colour) != (t.shape, t.colour) for t in avoid):
            return thing  # two objects never share shape AND colour, so narration names each uniquely


def _free_slots(scene: Scene) -> list[str]:
    used = {t.slot for t in scene}
    return [s for s in SLOTS if s not in used]


def _short(thing: Thing) -> str:
    return f"{thing.colour} {thing.shape}"


def _next_event(rng: random.Random, scene: Scene) -> tuple[str, Scene]:
    """Pick one valid event, apply it, and narrate it in one sentence."""
    events = ["move", "recolour"]
    if len(scene) < 2:
        events.append("appear")
    if len(scene) == 2:
        events.append("leave")
    event = rng.choice(events)
    if event == "appear":
        new = _random_thing(rng, _free_slots(scene), scene)
        return f"A {new.name()} appears {_where(new.slot)}.", _ordered(scene + (new,))
    target = rng.choice(scene)
    others = tuple(t for t in scene if t is not target)
    if event == "leave":
        return f"The {_short(target)} leaves.", others
    if event == "move":
        slot = rng.choice(_free_slots(scene))
        moved = replace(target, slot=slot)
        return f"The {_short(target)} moves to the {slot}.", _ordered(others + (moved,))
    colours = [c for c in COLOURS if c != target.colour and all((target.shape, c) != (o.shape, o.colour) for o in others)]
    colour = rng.choice(colours)
    return f"The {_short(target)} turns {colour}.", _ordered(others + (replace(target, colour=colour),))


@dataclass(frozen=True)
class StoryStep:
    narration: str
    scene: Scene

    def picture(self, size: int = PICTURE_SIZE) -> Image.Image:
        return render(self.scene, size)


class ShapesWorld:
    """Deterministic samples: the same (seed, index) always gives the same picture or story."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _rng(self, kind: str, index: int) -> random.Random:
        return random.Random(f"{self.seed}:{kind}:{index}")

    def scene(self, index: int) -> Scene:
        """A picture with one or two objects."""
        rng = self._rng("scene", index)
        first = _random_thing(rng, list(SLOTS))
        scene: Scene = (first,)
        if rng.random() < 0.5:
            scene = _ordered(scene + (_random_thing(rng, _free_slots(scene), scene),))
        return scene

    def caption_pair(self, index: int) -> tuple[str, Image.Image]:
        """CC3M form: (caption, picture)."""
        scene = self.scene(index)
        return describe(scene), render(scene)

    def story(self, index: int, steps: int = STORY_STEPS) -> list[StoryStep]:
        """VIST form: five narrated steps; the first introduces an object, later ones change the scene.

        A longer story (`steps` > 5) starts with the same five steps."""
        rng = self._rng("story", index)
        first = _random_thing(rng, list(SLOTS))
        scene: Scene = (first,)
        story = [StoryStep(f"A {first.name()} appears {_where(first.slot)}.", scene)]
        while len(story) < steps:
            narration, scene = _next_event(rng, scene)
            story.append(StoryStep(narration, scene))
        return story


_APPEAR = re.compile(r"^A (small|large) (red|green|blue|yellow) (circle|square|triangle) appears (on the left|in the middle|on the right)\.$")
_CHANGE = re.compile(r"^The (red|green|blue|yellow) (circle|square|triangle) (leaves|moves to the (left|middle|right)|turns (red|green|blue|yellow))\.$")


def apply_narration(scene: Scene, narration: str) -> Scene | None:
    """The scene after `narration`, or None when the sentence is not a valid event for `scene`.

    Valid means: one of the world's four sentence forms, naming an object that is there (or a free
    slot for a newcomer), with the same rules the story generator follows."""
    text = " ".join(narration.split())
    if m := _APPEAR.match(text):
        size, colour, shape, where = m.groups()
        new = Thing(shape, colour, size, where.split()[-1])
        if len(scene) >= 2 or new.slot not in _free_slots(scene) or any((t.shape, t.colour) == (shape, colour) for t in scene):
            return None
        return _ordered(scene + (new,))
    if m := _CHANGE.match(text):
        colour, shape, event, slot, new_colour = m.groups()
        targets = [t for t in scene if (t.shape, t.colour) == (shape, colour)]
        if not targets:
            return None
        target = targets[0]
        others = tuple(t for t in scene if t is not target)
        if event == "leaves":
            return others if len(scene) == 2 else None
        if slot is not None:
            return _ordered(others + (replace(target, slot=slot),)) if slot in _free_slots(scene) else None
        if new_colour == colour or any((o.shape, o.colour) == (shape, new_colour) for o in others):
            return None
        return _ordered(others + (replace(target, colour=new_colour),))
    return None
