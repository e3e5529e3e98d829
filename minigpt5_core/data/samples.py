"""Records -> `TrainingSample`s: which task each record yields, and the seeded, resumable stream a trainer reads."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MiniGPT5Error
from ..prompts import TrainingSample, cc3m_sample, mmdialog_sample, vist_samples
from .cc3m import read_cc3m_shards, read_cc3m_tsv
from .mmdialog import read_mmdialog
from .records import (
    FORMATS,
    VIST_TASKS,
    CaptionRecord,
    DataError,
    DialogRecord,
    ReadReport,
    StoryRecord,
)
from .vist import read_vist_cleaned, read_vist_sis

# ---- records -> training samples ----------------------------------------------------------------


@dataclass(frozen=True)
class SampleSpec:
    """One training sample to build: a record and which part of it (story step, dialogue turn)."""

    record: CaptionRecord | StoryRecord | DialogRecord
    task: str
    step: int = 0

    def build(self, rng: random.Random, *, chat_fraction: float = 0.01, num_vokens: int = 8,
              style: str = "official") -> TrainingSample:
        """Decode the images and build the sample in the prompt `style`; a `DataError` when an image does not decode."""
        r = self.record
        if isinstance(r, CaptionRecord):
            return cc3m_sample(r.caption, r.image.open(), rng=rng, chat_fraction=chat_fraction, num_vokens=num_vokens,
                               style=style)
        if isinstance(r, StoryRecord):
            images = [ref.open() for ref in r.images[: self.step + 1]]
            captions = r.captions[: self.step + 1]
            # vist_samples needs one image per caption; only steps <= self.step are built.
            return vist_samples(captions, images, self.task, num_vokens=num_vokens, style=style)[self.step]
        turns = [(text, ref.open() if ref is not None else None) for text, ref in r.turns[: self.step + 1]]
        return mmdialog_sample(turns, num_vokens=num_vokens, style=style)


def sample_specs(
    records: Iterator[CaptionRecord | StoryRecord | DialogRecord], task: str | None, report: ReadReport,
    *, need_output_image: bool = False,
) -> list[SampleSpec]:
    """Every sample of every record: one per caption, one per story step, one per dialogue answer.

    `need_output_image` keeps only samples whose target draws a picture (the training loss needs a
    voken group in every batch); the others are counted as skipped.
    """
    specs = []
    for r in records:
        if isinstance(r, CaptionRecord):
            specs.append(SampleSpec(r, "cc3m"))
        elif isinstance(r, StoryRecord):
            task = task or "multimodal"
            if task not in VIST_TASKS:
                raise MiniGPT5Error(f"unknown VIST task {task!r}; choose one of {', '.join(VIST_TASKS)}")
            if need_output_image and task == "understanding":
                raise MiniGPT5Error("the VIST 'understanding' task has no output image, and the training loss needs one; "
                                    "train with task 'gen' or 'multimodal'")
            specs.extend(SampleSpec(r, task, k) for k in range(len(r.captions)))
        else:
            for k in range(1, len(r.turns)):
                if need_output_image and r.turns[k][1] is None:
                    report.skip("dialogue answer without a picture (training needs one)", f"{r.dialog_id} turn {k}")
                    continue
                specs.append(SampleSpec(r, "mmdialog", k))
    return specs


def read_records(spec: dict[str, Any], report: ReadReport) -> Iterator[CaptionRecord | StoryRecord | DialogRecord]:
    """Dispatch on a data entry `{"format", "path", "images"?, "image_map"?}` (the training config's form)."""
    fmt = spec.get("format")
    path = spec.get("path")
    if not path:
        raise MiniGPT5Error(f"data entry {spec} has no 'path'")
    if fmt == "cc3m-tsv":
        return read_cc3m_tsv(path, report, images=spec.get("images"))
    if fmt == "cc3m-wds":
        return read_cc3m_shards(path, report)
    if fmt == "vist-sis":
        return read_vist_sis(path, _need(spec, "images"), report)
    if fmt == "vist-cleaned":
        return read_vist_cleaned(path, _need(spec, "image_map"), report, images=spec.get("images"))
    if fmt == "mmdialog":
        return read_mmdialog(path, _need(spec, "images"), report)
    raise MiniGPT5Error(f"unknown data format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _need(spec: dict[str, Any], key: str) -> str:
    if not spec.get(key):
        raise MiniGPT5Error(f"data entry of format {spec.get('format')!r} needs {key!r}")
    return spec[key]


class SampleSource:
    """A deterministic, resumable stream of training samples for one data-parallel rank.

    Epoch e visits the specs in an order shuffled by (seed, e); rank r takes every world-th of
    them (all ranks the same count, so no rank runs out first). A sample whose image does not
    decode is skipped, counted in `report`, and the next one is taken, so a batch is always full.
    `cursor` (epoch, position) is all a checkpoint needs to continue the same stream.
    """

    def __init__(self, specs: Sequence[SampleSpec], report: ReadReport, *, seed: int = 0, rank: int = 0,
                 world: int = 1, chat_fraction: float = 0.01, num_vokens: int = 8, style: str = "official"):
        if len(specs) < world:
            raise MiniGPT5Error(f"{len(specs)} training samples cannot be shared among {world} processes")
        self.specs, self.report = list(specs), report
        self.seed, self.rank, self.world = seed, rank, world
        self.chat_fraction, self.num_vokens, self.style = chat_fraction, num_vokens, style
        self.epoch, self.position = 0, 0
        self._order = self._epoch_order()

    @property
    def per_rank(self) -> int:
        return len(self.specs) // self.world

    def _epoch_order(self) -> list[int]:
        order = list(range(len(self.specs)))
        random.Random(f"{self.seed}:epoch:{self.epoch}").shuffle(order)
        return order[self.rank :: self.world][: self.per_rank]

    @property
    def cursor(self) -> tuple[int, int]:
        return self.epoch, self.position

    def seek(self, cursor: Sequence[int]) -> None:
        self.epoch, self.position = int(cursor[0]), int(cursor[1])
        self._order = self._epoch_order()

    def next_sample(self) -> TrainingSample:
        for _ in range(len(self.specs) + 1):
            if self.position >= len(self._order):
                self.seek((self.epoch + 1, 0))
            index = self._order[self.position]
            self.position += 1
            rng = random.Random(f"{self.seed}:sample:{index}:{self.epoch}")
            try:
                return self.specs[index].build(rng, chat_fraction=self.chat_fraction, num_vokens=self.num_vokens,
                                               style=self.style)
            except DataError as exc:
                self.report.skip("unreadable image", str(exc))
        raise MiniGPT5Error(f"no sample of {self.report.source} could be built: every image failed to decode")

    def batch(self, size: int) -> list[TrainingSample]:
        return [self.next_sample() for _ in range(size)]
