"""Dataset readers: the real file formats -> records -> `TrainingSample`s (MINIGPT5_SPEC.md §5).

| format          | files                                                      | record        |
|-----------------|------------------------------------------------------------|---------------|
| `cc3m-tsv`      | TSV `caption<TAB>image_path` (optional header), images     | CaptionRecord |
| `cc3m-wds`      | img2dataset webdataset shards `*.tar`: KEY.jpg/png + KEY.txt/json | CaptionRecord |
| `vist-sis`      | VIST raw story-in-sequence JSON + photo folder             | StoryRecord   |
| `vist-cleaned`  | MiniGPT-5 cleaned VIST JSON + image id -> path map         | StoryRecord   |
| `mmdialog`      | MMDialog JSON lines (`conversation` of `turn`s of `__TEXT__`/`__MEDIA__`) + media folder | DialogRecord |

Readers never stop on a broken record: they skip it, count it by reason in a `ReadReport` and go on,
so that one bad line in three million does not end a run, and the count says how much was lost.
Images are not decoded while reading (that would read a whole dataset up front); a record holds
`ImageRef`s, and an image that exists but does not decode is skipped and counted when a sample is
built from it (`SampleSource`).

The shapes world goes through the same readers: `write_shapes_cc3m_tsv` / `write_shapes_vist_sis`
write its samples in the real formats.

    python -m minigpt5_core.data --format cc3m-tsv --path cc3m/train.tsv [--decode]   check a dataset
"""

from __future__ import annotations

import csv
import io
import json
import random
import tarfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import MiniGPT5Error
from .prompts import TrainingSample, cc3m_sample, mmdialog_sample, vist_samples

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
FORMATS = ("cc3m-tsv", "cc3m-wds", "vist-sis", "vist-cleaned", "mmdialog")
VIST_TASKS = ("gen", "multimodal", "understanding")


class DataError(MiniGPT5Error):
    """One record cannot be used (missing or undecodable image, malformed line)."""


# ---- bookkeeping -------------------------------------------------------------------------------


@dataclass
class ReadReport:
    """How many records a reader produced and how many it skipped, by reason (with a few examples)."""

    source: str
    read: int = 0
    skipped: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)  # parts of records that were kept (e.g. extra pictures)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 3

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self._example(reason, where)

    def drop(self, what: str, where: str, n: int = 1) -> None:
        self.dropped[what] += n
        self._example(what, where)

    def _example(self, key: str, where: str) -> None:
        shown = self.examples.setdefault(key, [])
        if len(shown) < self.max_examples:
            shown.append(where)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "read": self.read, "skipped": self.skipped_total,
                "skipped_by_reason": dict(self.skipped), "dropped": dict(self.dropped), "examples": self.examples}

    def summary(self) -> str:
        text = f"{self.source}: {self.read} records read, {self.skipped_total} skipped"
        if self.skipped:
            reasons = "; ".join(f"{n} {r} (e.g. {', '.join(self.examples.get(r, []))})" for r, n in self.skipped.most_common())
            text += f": {reasons}"
        if self.dropped:
            text += "; kept with parts dropped: " + "; ".join(f"{n} {w}" for w, n in self.dropped.most_common())
        return text


@dataclass(frozen=True)
class ImageRef:
    """An image on disk, or a member of a tar file (read by offset, without unpacking the shard)."""

    path: Path
    offset: int | None = None
    size: int | None = None
    name: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.name}" if self.offset is not None else str(self.path)

    def read_bytes(self) -> bytes:
        if self.offset is None:
            return self.path.read_bytes()
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read(self.size)

    def open(self) -> Image.Image:
        """Decode to RGB; any failure (missing, truncated, not an image) is a `DataError`."""
        try:
            image = Image.open(io.BytesIO(self.read_bytes()))
            image.load()
            return image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(f"image {self} cannot be read: {exc}") from None


@dataclass
class CaptionRecord:
    caption: str
    image: ImageRef
    key: str


@dataclass
class StoryRecord:
    story_id: str
    captions: list[str]
    images: list[ImageRef]


@dataclass
class DialogRecord:
    dialog_id: str
    turns: list[tuple[str, ImageRef | None]]


def _clean(text: Any) -> str:
    return " ".join(str(text).split())


def _find_image(folder: Path, stem: str) -> Path | None:
    """`stem` + an image suffix in `folder` or one level below it (VIST splits train/val/test)."""
    directories = [folder] + (sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else [])
    for directory in directories:
        for suffix in IMAGE_SUFFIXES:
            for candidate in (directory / f"{stem}{suffix}", directory / f"{stem}{suffix.upper()}"):
                if candidate.is_file():
                    return candidate
    return None


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise MiniGPT5Error(f"{what} {path} does not exist")


def _load_json(path: Path, what: str) -> Any:
    _require_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MiniGPT5Error(f"{what} {path} is not valid UTF-8 JSON: {exc}") from None


# ---- CC3M ---------------------------------------------------------------------------------------


def read_cc3m_tsv(path: str | Path, report: ReadReport, *, images: str | Path | None = None) -> Iterator[CaptionRecord]:
    """`caption<TAB>image_path` lines; paths are relative to `images` (default: the TSV's folder).

    A first line `caption<TAB>image_path` (the official files have it) is a header, not a record.
    """
    path = Path(path)
    _require_file(path, "CC3M TSV")
    base = Path(images) if images is not None else path.parent
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            where = f"{path.name}:{number}"
            if not line.strip():
                continue
            fields = line.split("\t")
            if number == 1 and [x.strip().lower() for x in fields[:2]] == ["caption", "image_path"]:
                continue
            if len(fields) != 2:
                report.skip("malformed line (expected caption<TAB>image_path)", where)
                continue
            caption, image = _clean(fields[0]), fields[1].strip()
            if not caption:
                report.skip("empty caption", where)
                continue
            image_path = base / image
            if not image or not image_path.is_file():
                report.skip("missing image", where)
                continue
            report.read += 1
            yield CaptionRecord(caption, ImageRef(image_path), key=where)


def _wds_caption(members: dict[str, tarfile.TarInfo], tar: tarfile.TarFile) -> str | None:
    if "txt" in members:
        return tar.extractfile(members["txt"]).read().decode("utf-8", errors="replace")
    if "json" in members:
        meta = json.loads(tar.extractfile(members["json"]).read().decode("utf-8"))
        return meta.get("caption") if isinstance(meta, dict) else None
    return None


def _is_compressed(path: Path) -> bool:
    return path.name.lower().endswith((".tar.gz", ".tgz"))


def read_cc3m_shards(shards: str | Path | Sequence[str | Path], report: ReadReport) -> Iterator[CaptionRecord]:
    """img2dataset webdataset shards: members grouped by key (name up to the first dot after the last /).

    A sample needs an image (.jpg/.jpeg/.png/.webp) and a caption (.txt, else the `caption` of .json).
    A shard that is not a tar file, or is cut short, is counted and the shards after it still read.
    Compressed shards (.tar.gz, .tgz) are refused: images are read in place by offset, which needs a
    plain tar (img2dataset's default output).
    """
    if isinstance(shards, (str, Path)):
        root = Path(shards)
        shards = sorted(root.glob("*.tar")) if root.is_dir() else [root]
        if not shards:
            compressed = [p.name for p in sorted(root.iterdir()) if _is_compressed(p)] if root.is_dir() else []
            if compressed:
                raise MiniGPT5Error(
                    f"{root} holds {len(compressed)} compressed shards ({compressed[0]}, ...) and no plain *.tar: "
                    "images are read from a shard by offset, so decompress them first (gunzip *.tar.gz; "
                    "rename .tgz to .tar.gz before) or run img2dataset without compression"
                )
            raise MiniGPT5Error(f"no *.tar shards in {root}")
    for shard in map(Path, shards):
        if _is_compressed(shard):
            report.skip("compressed shard (decompress it: gunzip)", str(shard))
            continue
        try:
            tar = tarfile.open(shard, "r:")
        except (OSError, tarfile.TarError):
            report.skip("unreadable shard", str(shard))
            continue
        with tar:
            groups: dict[str, dict[str, tarfile.TarInfo]] = {}
            size = shard.stat().st_size
            # tarfile reads a header cut short as the end of the archive; a complete shard still has
            # its two zero end blocks after the last member, and every member's data inside the file.
            truncated = False
            try:
                for info in tar:
                    if info.offset_data + info.size > size:
                        truncated = True
                        break
                    if not info.isfile():
                        continue
                    folder, _, name = info.name.rpartition("/")
                    stem, dot, ext = name.partition(".")
                    if dot:
                        groups.setdefault(f"{folder}/{stem}" if folder else stem, {})[ext.lower()] = info
            except (OSError, tarfile.TarError):
                truncated = True
            if truncated or tar.offset + 2 * tarfile.BLOCKSIZE > size:
                report.skip("truncated shard (samples after the break lost)", str(shard))
            for key, members in groups.items():
                where = f"{shard.name}:{key}"
                image_ext = next((e for e in ("jpg", "jpeg", "png", "webp") if e in members), None)
                if image_ext is None:
                    report.skip("sample without an image", where)
                    continue
                try:
                    caption = _wds_caption(members, tar)
                except (OSError, tarfile.TarError, UnicodeDecodeError, json.JSONDecodeError):
                    caption = None
                if caption is None or not _clean(caption):
                    report.skip("sample without a caption", where)
                    continue
                info = members[image_ext]
                report.read += 1
                yield CaptionRecord(_clean(caption), ImageRef(shard, info.offset_data, info.size, info.name), key=where)


# ---- VIST ---------------------------------------------------------------------------------------


def read_vist_sis(path: str | Path, images: str | Path, report: ReadReport) -> Iterator[StoryRecord]:
    """Raw SIS JSON: stories grouped by `story_id`, ordered by `worker_arranged_photo_order`, `original_text`.

    Photos are `<photo_flickr_id>.<jpg|png|...>` in `images` or one folder below. A story with a
    missing photo or a malformed annotation is skipped whole (a story needs all its steps).
    """
    path, folder = Path(path), Path(images)
    data = _load_json(path, "VIST SIS file")
    if not (isinstance(data, dict) and isinstance(data.get("annotations"), list)):
        raise MiniGPT5Error(f"{path} is not a VIST story-in-sequence file: it has no 'annotations' list")
    if not folder.is_dir():
        raise MiniGPT5Error(f"VIST photo folder {folder} does not exist")
    stories: dict[str, list[dict]] = {}
    for i, item in enumerate(data["annotations"]):
        entry = item[0] if isinstance(item, list) and item else item
        if not (isinstance(entry, dict) and "story_id" in entry):
            report.skip("malformed annotation", f"{path.name}: annotations[{i}]")
            continue
        stories.setdefault(str(entry["story_id"]), []).append(entry)
    index: dict[str, Path | None] = {}
    for story_id, entries in stories.items():
        where = f"{path.name}: story {story_id}"
        try:
            ordered = sorted(entries, key=lambda e: int(e["worker_arranged_photo_order"]))
            steps = [(_clean(e["original_text"]), str(e["photo_flickr_id"])) for e in ordered]
        except (KeyError, TypeError, ValueError):
            report.skip("malformed story (missing order, text or photo id)", where)
            continue
        if any(not text for text, _ in steps):
            report.skip("story with an empty caption", where)
            continue
        refs = []
        for _, photo in steps:
            if photo not in index:
                index[photo] = _find_image(folder, photo)
            refs.append(index[photo])
        if any(r is None for r in refs):
            report.skip("story with a missing photo", where)
            continue
        report.read += 1
        yield StoryRecord(story_id, [t for t, _ in steps], [ImageRef(r) for r in refs])


def read_vist_cleaned(
    path: str | Path, image_map: str | Path, report: ReadReport, *, images: str | Path | None = None,
) -> Iterator[StoryRecord]:
    """MiniGPT-5 cleaned VIST: `{story_id: [{caption, image_id, sequence_index}]}` + `{image_id: path}`.

    Paths in the map are relative to `images` (default: the map's folder). Stories whose images are
    missing from the map or from disk are skipped and counted.
    """
    path, map_path = Path(path), Path(image_map)
    data = _load_json(path, "cleaned VIST file")
    mapping = _load_json(map_path, "VIST image map")
    if not isinstance(data, dict):
        raise MiniGPT5Error(f"{path} is not a cleaned VIST file ({{story_id: [{{caption, image_id, sequence_index}}]}})")
    if not isinstance(mapping, dict):
        raise MiniGPT5Error(f"image map {map_path} must be a JSON object {{image_id: path}}")
    base = Path(images) if images is not None else map_path.parent
    for story_id, steps in data.items():
        where = f"{path.name}: story {story_id}"
        try:
            ordered = sorted(steps, key=lambda s: int(s["sequence_index"]))
            pairs = [(_clean(s["caption"]), str(s["image_id"])) for s in ordered]
        except (KeyError, TypeError, ValueError):
            report.skip("malformed story (needs caption, image_id, sequence_index)", where)
            continue
        if not pairs or any(not c for c, _ in pairs):
            report.skip("story with an empty caption", where)
            continue
        if any(i not in mapping for _, i in pairs):
            report.skip("image id not in the image map", where)
            continue
        files = [base / str(mapping[i]) for _, i in pairs]
        if any(not f.is_file() for f in files):
            report.skip("story with a missing image", where)
            continue
        report.read += 1
        yield StoryRecord(str(story_id), [c for c, _ in pairs], [ImageRef(f) for f in files])


# ---- MMDialog -----------------------------------------------------------------------------------


def read_mmdialog(path: str | Path, images: str | Path, report: ReadReport) -> Iterator[DialogRecord]:
    """MMDialog JSON lines: `{"conversation_id", "conversation": [{"turn": [{"__TEXT__": ..}, {"__MEDIA__": key}]}]}`.

    Media are `<media_key>.jpg` in `images`. Our prompt format has one picture per turn: further
    pictures of a turn are dropped and counted (`report.dropped`; the dialogue is kept). A dialogue with a missing
    picture, or fewer than two usable turns, is skipped.
    """
    path, folder = Path(path), Path(images)
    _require_file(path, "MMDialog file")
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                item = json.loads(line)
                conversation = item["conversation"]
                dialog_id = str(item.get("conversation_id", number))
                raw_turns = [t["turn"] for t in conversation]
                if not all(isinstance(t, list) for t in raw_turns):
                    raise TypeError
            except (json.JSONDecodeError, KeyError, TypeError):
                report.skip("malformed line", where)
                continue
            turns, missing = [], False
            for parts in raw_turns:
                texts = [_clean(p["__TEXT__"]) for p in parts if isinstance(p, dict) and "__TEXT__" in p]
                media = [str(p["__MEDIA__"]) for p in parts if isinstance(p, dict) and "__MEDIA__" in p]
                if len(media) > 1:
                    report.drop("extra pictures of a turn", where, len(media) - 1)
                ref = None
                if media:
                    found = _find_image(folder, media[0])
                    if found is None:
                        missing = True
                        break
                    ref = ImageRef(found)
                text = " ".join(t for t in texts if t)
                if text or ref is not None:
                    turns.append((text, ref))
            if missing:
                report.skip("dialogue with a missing picture", where)
                continue
            if len(turns) < 2:
                report.skip("dialogue with fewer than two turns", where)
                continue
            report.read += 1
            yield DialogRecord(dialog_id, turns)


# ---- records -> training samples ----------------------------------------------------------------


@dataclass(frozen=True)
class SampleSpec:
    """One training sample to build: a record and which part of it (story step, dialogue turn)."""

    record: CaptionRecord | StoryRecord | DialogRecord
    task: str
    step: int = 0

    def build(self, rng: random.Random, *, chat_fraction: float = 0.01, num_vokens: int = 8) -> TrainingSample:
        """Decode the images and build the sample; a `DataError` when an image does not decode."""
        r = self.record
        if isinstance(r, CaptionRecord):
            return cc3m_sample(r.caption, r.image.open(), rng=rng, chat_fraction=chat_fraction, num_vokens=num_vokens)
        if isinstance(r, StoryRecord):
            images = [ref.open() for ref in r.images[: self.step + 1]]
            captions = r.captions[: self.step + 1]
            # vist_samples needs one image per caption; only steps <= self.step are built.
            return vist_samples(captions, images, self.task, num_vokens=num_vokens)[self.step]
        turns = [(text, ref.open() if ref is not None else None) for text, ref in r.turns[: self.step + 1]]
        return mmdialog_sample(turns, num_vokens=num_vokens)


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
                 world: int = 1, chat_fraction: float = 0.01, num_vokens: int = 8):
        if len(specs) < world:
            raise MiniGPT5Error(f"{len(specs)} training samples cannot be shared among {world} processes")
        self.specs, self.report = list(specs), report
        self.seed, self.rank, self.world = seed, rank, world
        self.chat_fraction, self.num_vokens = chat_fraction, num_vokens
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
                return self.specs[index].build(rng, chat_fraction=self.chat_fraction, num_vokens=self.num_vokens)
            except DataError as exc:
                self.report.skip("unreadable image", str(exc))
        raise MiniGPT5Error(f"no sample of {self.report.source} could be built: every image failed to decode")

    def batch(self, size: int) -> list[TrainingSample]:
        return [self.next_sample() for _ in range(size)]


# ---- the shapes world, written in the real formats ----------------------------------------------


def write_shapes_cc3m_tsv(world: Any, count: int, folder: str | Path, *, start: int = 0) -> Path:
    """Write `count` (caption, picture) pairs of a shapes world as a CC3M TSV + images; returns the TSV."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = ["caption\timage_path"]
    for i in range(start, start + count):
        caption, picture = world.caption_pair(i)
        picture.save(folder / "images" / f"{i:09d}.png")
        lines.append(f"{caption}\timages/{i:09d}.png")
    tsv = folder / "captions.tsv"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tsv


def write_shapes_vist_sis(world: Any, count: int, folder: str | Path, *, start: int = 0) -> Path:
    """Write `count` 5-step stories of a shapes world as a VIST SIS JSON + photo folder; returns the JSON."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    annotations = []
    for s in range(start, start + count):
        for k, step in enumerate(world.story(s)):
            photo = f"{s}{k:02d}"
            step.picture().save(folder / "images" / f"{photo}.png")
            annotations.append([{"story_id": str(s), "worker_arranged_photo_order": k, "photo_flickr_id": photo,
                                 "original_text": step.narration, "text": step.narration.lower(),
                                 "album_id": str(s), "storylet_id": str(s * 10 + k)}])
    path = folder / "sis.json"
    path.write_text(json.dumps({"annotations": annotations}), encoding="utf-8")
    return path



def check(argv: list[str] | None = None) -> int:
    """`python -m minigpt5_core.data --format F --path P [...]`: read a dataset and print its report.

    `--decode` also decodes every image (slow on a large set), so that a training run meets no surprise.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m minigpt5_core.data", description=check.__doc__.split("\n")[0])
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--path", required=True)
    parser.add_argument("--images")
    parser.add_argument("--image-map")
    parser.add_argument("--decode", action="store_true", help="decode every image as well")
    args = parser.parse_args(argv)
    report = ReadReport(f"{args.format}:{args.path}")
    try:
        records = list(read_records({"format": args.format, "path": args.path, "images": args.images,
                                     "image_map": args.image_map}, report))
    except MiniGPT5Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.decode:
        for r in records:
            refs = [r.image] if isinstance(r, CaptionRecord) else (
                r.images if isinstance(r, StoryRecord) else [ref for _, ref in r.turns if ref is not None])
            for ref in refs:
                try:
                    ref.open()
                except DataError as exc:
                    report.drop("unreadable images (their samples will be skipped in training)", str(exc))
    print(report.summary(), file=sys.stderr)
    print(json.dumps(report.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(check())
