"""Evaluation on held-out shapes stories (world seed `EVAL_SEED`), ground-truth history at every step.

- gen task (history + "Generate an image with the scene description: <narration>" -> picture):
  attribute accuracy of the generated picture against the scene the story actually reached, as read
  by the judge (per slot: occupied or not; per object: shape and colour). Our analog of CLIP-I.
- multimodal task (history + "Tell me the next scene with image." -> narration + picture):
  narration validity (one of the world's sentence forms, and a possible event in the current scene)
  and narration-picture agreement (attribute accuracy of the picture against the scene the model's
  own narration describes; valid narrations only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..modeling.model import MiniGPT5
from ..prompts import vist_samples
from . import data
from .judge import Judge, attribute_accuracy
from .train import VARIANTS
from .world import ShapesWorld, apply_narration

ABLATIONS = tuple(name for name in VARIANTS if name != "full")


def _samples(model: MiniGPT5, story, task: str):
    return vist_samples([s.narration for s in story], data.story_pictures(story), task,
                        system=model.config.system_prompt, num_vokens=model.config.num_vokens,
                        style=model.config.prompt_style)


def _draw(model: MiniGPT5, vokens: list[torch.Tensor], seed: int) -> list:
    pictures = []
    for i in range(0, len(vokens), 32):
        pictures += model.render_images(torch.stack(vokens[i:i + 32]), seed=seed + i)
    return pictures


def gen_accuracy(model: MiniGPT5, judge: Judge, stories: range, seed: int = 0, progress: bool = False) -> float:
    """Attribute accuracy of gen-task pictures over every step of the given evaluation stories."""
    world = ShapesWorld(data.EVAL_SEED)
    vokens, scenes = [], []
    for index in tqdm(stories, desc="gen task", disable=not progress):
        story = world.story(index)
        for step, sample in zip(story, _samples(model, story, "gen")):
            result = model.generate(sample.source, sample.input_images, template=False, force_image=True,
                                    temperature=0, max_new_tokens=model.config.num_vokens + 4)
            vokens.append(result.vokens[0])
            scenes.append(step.scene)
    return attribute_accuracy(judge.read(_draw(model, vokens, seed)), scenes)


@dataclass
class MultimodalScores:
    validity: float
    agreement: float


def multimodal_scores(model: MiniGPT5, judge: Judge, stories: range, seed: int = 0,
                      progress: bool = False) -> MultimodalScores:
    world = ShapesWorld(data.EVAL_SEED)
    valid, vokens, scenes, total = 0, [], [], 0
    for index in tqdm(stories, desc="multimodal task", disable=not progress):
        story = world.story(index)
        for k, sample in enumerate(_samples(model, story, "multimodal")):
            result = model.generate(sample.source, sample.input_images, template=False, force_image=True,
                                    seed=seed + 10 * index + k)
            before = story[k - 1].scene if k else ()
            narrated = apply_narration(before, result.text)
            total += 1
            if narrated is not None:
                valid += 1
                vokens.append(result.vokens[0])
                scenes.append(narrated)
    agreement = attribute_accuracy(judge.read(_draw(model, vokens, seed)), scenes) if vokens else 0.0
    return MultimodalScores(valid / max(1, total), agreement)


def evaluate_table(model_dir: Path, judge_dir: Path, variants_dir: Path | None, num_stories: int) -> int:
    torch.manual_seed(0)
    judge = Judge.load(judge_dir)
    world = ShapesWorld(data.EVAL_SEED)
    truth = [step.scene for i in range(num_stories) for step in world.story(i)]
    judge_truth = attribute_accuracy(judge.read([data.render(s, data.SIZE) for s in truth]), truth)
    rows = [("full", model_dir)]
    if variants_dir is not None:
        rows += [(name, variants_dir / name) for name in ABLATIONS if (variants_dir / name).is_dir()]
    stories = range(num_stories)
    results = []
    for name, folder in rows:
        model = MiniGPT5.from_pretrained(folder)
        gen = gen_accuracy(model, judge, stories, progress=True)
        mm = multimodal_scores(model, judge, stories, progress=True)
        results.append((name, model.config.diffusion.guidance_scale, gen, mm))
    print(f"\nshapes world, {num_stories} held-out stories x 5 steps (ground-truth history); "
          f"judge on ground-truth pictures: {judge_truth:.3f}")
    header = f"{'variant':<18}{'guidance':>9}{'gen attr acc':>14}{'narr valid':>12}{'narr-pic agree':>16}"
    print(header)
    print("-" * len(header))
    for name, guidance, gen, mm in results:
        print(f"{name:<18}{guidance:>9.1f}{gen:>14.3f}{mm.validity:>12.3f}{mm.agreement:>16.3f}")
    missing = [] if variants_dir is None else [a for a in ABLATIONS if not (variants_dir / a).is_dir()]
    if variants_dir is None:
        print("(ablation rows: pass --variants out/shapes/variants after training them)")
    elif missing:
        print(f"(not trained, so not shown: {', '.join(missing)})")
    print(f"gen_attribute_accuracy={results[0][2]:.4f}")
    return 0
