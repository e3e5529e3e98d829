"""The judge: a small CNN trained on the world's ground truth that reads a picture back as a scene.

For each of the three slots it predicts "empty" or one of the 12 (shape, colour) pairs. It is our
analog of CLIP-I: generated pictures are scored by comparing what the judge sees with the scene that
should have been drawn (`attribute_accuracy`). It is trained on clean renders with noise, blur and
colour jitter so that imperfect generated pictures are read the way a person would read them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from . import data
from .world import COLOURS, SHAPES, SLOTS, Scene, ShapesWorld

SLOT_NAMES = list(SLOTS)
COLOUR_NAMES = list(COLOURS)
NUM_CLASSES = 1 + len(SHAPES) * len(COLOURS)


def slot_labels(scene: Scene) -> list[int]:
    """Per slot: 0 = empty, else 1 + shape index * 4 + colour index."""
    labels = [0] * len(SLOT_NAMES)
    for t in scene:
        labels[SLOT_NAMES.index(t.slot)] = 1 + SHAPES.index(t.shape) * len(COLOURS) + COLOUR_NAMES.index(t.colour)
    return labels


class Judge(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 8 * 8, 256),
            nn.ReLU(), nn.Linear(256, len(SLOT_NAMES) * NUM_CLASSES))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, 32, 32) in [-1, 1] -> (B, 3 slots, 13) logits."""
        return self.net(pixels).view(-1, len(SLOT_NAMES), NUM_CLASSES)

    @torch.no_grad()
    def read(self, images: list[Image.Image]) -> list[list[int]]:
        arrays = [np.asarray(im.convert("RGB").resize((data.SIZE, data.SIZE), Image.Resampling.BICUBIC),
                             dtype=np.float32) / 127.5 - 1.0 for im in images]
        pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        return self(pixels).argmax(-1).tolist()

    @classmethod
    def load(cls, folder: str | Path) -> "Judge":
        judge = cls()
        judge.load_state_dict(load_file(Path(folder) / "judge.safetensors"))
        return judge.eval()


def attribute_scores(predicted: list[int], scene: Scene) -> tuple[int, int]:
    """(correct, total) attributes of one picture: for every slot whether it is occupied (position),
    and for every object that should be there its shape and its colour."""
    truth = slot_labels(scene)
    correct = total = 0
    for p, t in zip(predicted, truth):
        total += 1
        correct += (p == 0) == (t == 0)
        if t:
            total += 2
            if p:
                correct += (p - 1) // len(COLOURS) == (t - 1) // len(COLOURS)  # shape
                correct += (p - 1) % len(COLOURS) == (t - 1) % len(COLOURS)  # colour
    return correct, total


def attribute_accuracy(predictions: list[list[int]], scenes: list[Scene]) -> float:
    pairs = [attribute_scores(p, s) for p, s in zip(predictions, scenes)]
    return sum(c for c, _ in pairs) / max(1, sum(t for _, t in pairs))


def _augmented(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    image = data.render(scene, data.SIZE)
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.9)))
    x = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    x = x * rng.uniform(0.9, 1.1, size=(1, 1, 3)) + rng.uniform(-0.08, 0.08, size=(1, 1, 3))
    return x + rng.normal(0, rng.uniform(0, 0.1), size=x.shape)


def train_judge(out: Path, steps: int, seed: int = 0) -> None:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    world = ShapesWorld(data.TRAIN_SEED + 100)
    scenes = [world.scene(i) for i in range(5000)] + [()] * 50
    judge = Judge()
    optimizer = torch.optim.AdamW(judge.parameters(), lr=1e-3)
    with tqdm(range(steps), desc="judge", unit="step") as bar:
        for step in bar:
            batch = [scenes[i] for i in rng.integers(0, len(scenes), 64)]
            x = torch.from_numpy(np.stack([_augmented(s, rng) for s in batch])).float().permute(0, 3, 1, 2)
            y = torch.tensor([slot_labels(s) for s in batch])
            loss = F.cross_entropy(judge(x).reshape(-1, NUM_CLASSES), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 200 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
    judge.eval()
    check = [ShapesWorld(data.EVAL_SEED).scene(i) for i in range(500)]
    accuracy = attribute_accuracy(judge.read([data.render(s, data.SIZE) for s in check]), check)
    tqdm.write(f"judge: attribute accuracy on 500 held-out ground-truth pictures {accuracy:.4f}")
    save_file(judge.state_dict(), out / "judge.safetensors")
    (out / "judge.json").write_text(json.dumps({"ground_truth_accuracy": accuracy, "steps": steps}))
