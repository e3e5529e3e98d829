"""Shapes-world data in the forms the training code reads: tokenizer corpus, picture tensors, samples.

Pictures are rendered at the generator's resolution (32 px) directly: the world draws at any size.
Training and evaluation draw from different world seeds (`TRAIN_SEED`, `EVAL_SEED`).
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from ..config import VIST_SYSTEM_PROMPT
from ..modeling.tiny_tokenizer import train_bpe_tokenizer
from ..prompts import (
    CC3M_CHAT_INSTRUCTION,
    GEN_INSTRUCTION,
    NEXT_SCENE_INSTRUCTION,
    UNDERSTAND_INSTRUCTION,
    TrainingSample,
    chat_prompt,
    chat_turn,
    vist_samples,
    voken_group,
)
from ..tokens import IMAGE_TAG
from .world import Scene, ShapesWorld, StoryStep, describe, render

TRAIN_SEED = 0
EVAL_SEED = 1
SIZE = 32
STORY_PAGES = 5  # pages of a storybook story (the opening line has no picture)
PROMPT_STYLE = "v0.1"  # the formats the bundled shapes model was trained with (the toy preset's prompt_style)


def build_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on the world's own text (whole words become single tokens)."""
    world = ShapesWorld(TRAIN_SEED)
    corpus = [VIST_SYSTEM_PROMPT, chat_turn(NEXT_SCENE_INSTRUCTION), chat_turn(UNDERSTAND_INSTRUCTION),
              chat_turn(GEN_INSTRUCTION.format(caption="")), chat_turn(CC3M_CHAT_INSTRUCTION.format(caption="")),
              "An empty picture.", IMAGE_TAG]
    corpus += [describe(world.scene(i)) for i in range(2000)]
    corpus += [" ".join(s.narration for s in world.story(i)) for i in range(2000)]
    return train_bpe_tokenizer(corpus, vocab_size)


def pictures(scenes: list[Scene], size: int = SIZE) -> torch.Tensor:
    """Scenes -> (B, 3, size, size) in [-1, 1]."""
    arrays = [np.asarray(render(s, size), dtype=np.float32) / 127.5 - 1.0 for s in scenes]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def caption_scenes(n: int, seed: int = TRAIN_SEED) -> list[Scene]:
    world = ShapesWorld(seed)
    return [world.scene(i) for i in range(n)]


def story_pictures(story: list[StoryStep]) -> list:
    return [step.picture(SIZE) for step in story]


# ---- samples for each training phase (all through minigpt5_core.prompts) ------------------------------


def caption_sample(scene: Scene, rng: random.Random, chat_fraction: float, num_vokens: int) -> TrainingSample:
    from ..prompts import cc3m_sample

    return cc3m_sample(describe(scene), render(scene, SIZE), rng=rng, chat_fraction=chat_fraction,
                       num_vokens=num_vokens, style=PROMPT_STYLE)


def story_samples(story: list[StoryStep], task: str, system: str, num_vokens: int) -> list[TrainingSample]:
    """VIST-form samples of one story (`minigpt5_core.prompts.vist_samples`), each carrying the exact
    scene description of its target picture as its caption: unlike a VIST photo, every shapes picture
    has a true caption, so the caption loss applies in stage 2 as it does to CC3M pairs."""
    samples = vist_samples([s.narration for s in story], story_pictures(story), task, system=system,
                           num_vokens=num_vokens, style=PROMPT_STYLE)
    return [replace(sample, captions=[describe(step.scene)] if sample.output_images else None)
            for sample, step in zip(samples, story)]


def story_chat_sample(story: list[StoryStep], system: str, num_vokens: int) -> TrainingSample:
    """The multi-turn form `MiniGPT5.story` writes: the opening line, then page after page of
    narration + picture, each page asked for with "Tell me the next scene with image."."""
    group = voken_group(num_vokens)
    source = chat_prompt(f"{story[0].narration} {NEXT_SCENE_INSTRUCTION}", system)
    pages = [f"{step.narration} {group} ###" for step in story[1:]]
    target = f"Human: {NEXT_SCENE_INSTRUCTION} ###Assistant: ".join(pages)
    images = story_pictures(story[1:])
    return TrainingSample(source, target, [], images, [describe(s.scene) for s in story[1:]])


def pretraining_samples(story: list[StoryStep], system: str, rng: random.Random) -> list[TrainingSample]:
    """Text-only samples for the MiniGPT-4 analog, in the chat format: it learns to see (caption two of
    the story's pictures), the world's rules (the scene after a narration, at two points of the story),
    and to continue a story (the next narration; the whole story page by page).

    Two captions and two scene descriptions per story rather than one each: with one, the LM mixed the
    attributes of two objects and captioned 3 of 14 held-out two-object pictures exactly after 3000
    steps; with two, 6 of 14 (gen attribute accuracy of the final model 0.795 against 0.771)."""
    images = story_pictures(story)

    def source(k: int, instruction: str) -> str:
        history = " ".join(f"{s.narration} {IMAGE_TAG}" for s in story[:k])
        return chat_prompt(f"{history} {instruction}".strip(), system)

    samples = [TrainingSample(source(0, f"{IMAGE_TAG} {UNDERSTAND_INSTRUCTION}"), f"{describe(story[k].scene)} ###",
                              [images[k]]) for k in rng.sample(range(len(story)), 2)]
    samples += [TrainingSample(source(k, GEN_INSTRUCTION.format(caption=story[k].narration)),
                               f"{describe(story[k].scene)} ###", images[:k]) for k in rng.sample(range(len(story)), 2)]
    k = rng.randrange(len(story))
    samples.append(TrainingSample(source(k, NEXT_SCENE_INSTRUCTION), f"{story[k].narration} ###", images[:k]))
    pages = [f"{s.narration} ###" for s in story[1:]]
    samples.append(TrainingSample(chat_prompt(f"{story[0].narration} {NEXT_SCENE_INSTRUCTION}", system),
                                  f"Human: {NEXT_SCENE_INSTRUCTION} ###Assistant: ".join(pages)))
    return samples
