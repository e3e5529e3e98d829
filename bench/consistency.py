"""Consistent self-attention (StoryDiffusion) on the bundled shapes world: what it does to the pictures, and
what it costs.

    .venv/bin/python bench/consistency.py [--stories 20] [--ratio 0.5] [--cost-size 128]

Quality (the bundled shapes-default model and its judge, held-out stories of world seed EVAL_SEED, gen task:
ground-truth history + the step's narration -> vokens, greedy): every story's 5 pages are drawn as ONE batch,
without and with consistency, at the same seeds (page i of story s: seed 1000 s + i). Printed per setting:
- gen accuracy: the judge's attribute accuracy of each page against the scene the story reached (the shapes
  evaluation's measure);
- agreement: of the objects that stay unchanged from one page to the next (same shape, colour, size and slot
  in the true scenes), the share the judge reads with the same shape and colour on both pages.

Cost: one batch of 5 and of 10 pages through the same toy UNet at --cost-size pixels (128 px gives a 64 x 64
latent, SD 2.x's token count at its finest level at 512 px), with and without, each in its own process: CPU
time of the sampling (one torch thread, so neighbours on a shared machine do not count) and the peak resident
memory the sampling adds over what the process held before it. Ratios against "without" of the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from minigpt5_core import ConsistencySettings, MiniGPT5
from minigpt5_core.shapes import data
from minigpt5_core.shapes.__main__ import DEFAULT_JUDGE
from minigpt5_core.shapes.evaluate import _samples
from minigpt5_core.shapes.judge import Judge, attribute_accuracy, slot_labels
from minigpt5_core.shapes.world import SLOTS, ShapesWorld

MODEL = Path(__file__).resolve().parents[1] / "minigpt5_core" / "assets" / "shapes-default"
SLOT_NAMES = list(SLOTS)


def story_vokens(model: MiniGPT5, world: ShapesWorld, index: int):
    """(pages, 8, H) vokens of the gen task at every step of story `index`, and the true scenes."""
    story = world.story(index)
    vokens = [model.generate(sample.source, sample.input_images, template=False, force_image=True, temperature=0,
                             max_new_tokens=model.config.num_vokens + 4).vokens[0]
              for sample in _samples(model, story, "gen")]
    return torch.stack(vokens), [step.scene for step in story]


def agreement(readings: list[list[int]], scenes) -> tuple[int, int]:
    """(agreeing, total) over objects unchanged between consecutive pages: same judged label at their slot."""
    agree = total = 0
    for k in range(len(scenes) - 1):
        for thing in set(scenes[k]) & set(scenes[k + 1]):
            slot = SLOT_NAMES.index(thing.slot)
            total += 1
            agree += readings[k][slot] == readings[k + 1][slot]
    return agree, total


def quality(stories: int, ratio: float) -> None:
    model, judge, world = MiniGPT5.from_pretrained(MODEL), Judge.load(DEFAULT_JUDGE), ShapesWorld(data.EVAL_SEED)
    drawn = [story_vokens(model, world, s) for s in range(stories)]
    print(f"shapes world, {stories} held-out stories x {len(drawn[0][1])} pages drawn as one batch each, "
          f"same seeds; ratio {ratio}")
    print(f"{'setting':<16} {'gen accuracy':>12} {'agreement':>10} {'(objects)':>9}")
    for name, consistency in (("without", None), (f"with r={ratio:g}", ConsistencySettings(ratio=ratio))):
        readings, scenes, agree, total = [], [], 0, 0
        for s, (vokens, truth) in enumerate(drawn):
            pictures = model.render_images(vokens, seed=1000 * s, consistency=consistency)
            read = judge.read(pictures)
            a, t = agreement(read, truth)
            readings += read
            scenes += truth
            agree, total = agree + a, total + t
        print(f"{name:<16} {attribute_accuracy(readings, scenes):>12.3f} {agree / max(1, total):>10.3f} {total:>9}")
    truth_read = [slot_labels(s) for s in scenes]  # the judge's job done perfectly: the ceiling of agreement
    print(f"{'(true scenes)':<16} {'1.000':>12} {agreement(truth_read, scenes)[0] / max(1, total):>10.3f}")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def cost_child(pages: int, ratio: float, size: int) -> None:
    """One sampling in this process: prints {"cpu_s", "peak_bytes"} as JSON."""
    torch.set_num_threads(1)
    model = MiniGPT5.from_pretrained(MODEL)
    vokens = torch.randn(pages, model.config.num_vokens, model.config.llm.hidden_size,
                         generator=torch.Generator().manual_seed(0))
    consistency = ConsistencySettings(ratio=ratio)
    model.render_images(vokens[:1], steps=2, height=size, width=size)  # warm-up: lazy inits are not the cost
    base, peak, done = _rss(), [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    start = time.process_time()
    model.render_images(vokens, steps=4, height=size, width=size, consistency=consistency)
    cpu = time.process_time() - start
    done.set()
    watcher.join()
    print(json.dumps({"cpu_s": cpu, "peak_bytes": max(0, peak[0] - base)}))


def cost(ratio: float, size: int) -> None:
    print(f"\ncost: toy UNet at {size} px, 4 steps, one torch thread; each row in its own process")
    print(f"{'pages':>5} {'time x':>8} {'memory x':>9} {'K/V x':>6}   (with r={ratio:g} over without)")
    for pages in (5, 10):
        runs = {}
        for r in (0.0, ratio):
            out = subprocess.run([sys.executable, __file__, "--cost-child", str(pages), str(r), str(size)],
                                 capture_output=True, text=True, check=True)
            runs[r] = json.loads(out.stdout.strip().splitlines()[-1])
        time_x = runs[ratio]["cpu_s"] / runs[0.0]["cpu_s"]
        memory_x = runs[ratio]["peak_bytes"] / max(1, runs[0.0]["peak_bytes"])
        print(f"{pages:>5} {time_x:>8.2f} {memory_x:>9.2f} {1 + ratio * (pages - 1):>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=20)
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--cost-size", type=int, default=128)
    parser.add_argument("--cost-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cost_child:
        cost_child(int(args.cost_child[0]), float(args.cost_child[1]), int(args.cost_child[2]))
        return
    quality(args.stories, args.ratio)
    cost(args.ratio, args.cost_size)


if __name__ == "__main__":
    main()
