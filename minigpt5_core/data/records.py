"""What the readers yield, and how they account for what they skip.

Readers never stop on a broken record: they skip it, count it by reason in a `ReadReport` and go on, so
that one bad line in three million does not end a run, and the count says how much was lost. Images are not
decoded while reading; a record holds `ImageRef`s.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from PIL import Image

from ..errors import MiniGPT5Error

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
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


def clean_text(text: Any) -> str:
    return " ".join(str(text).split())


class UnsafeNameError(DataError):
    """A file name taken from a data file would lead outside its folder (or cannot name a file at all)."""


_NOT_IN_A_NAME = ("/", "\\", ":", "\x00")


class ImageFolder:
    """Images named by an id (`<id>.jpg`, ...) in one folder or one level below it, never outside it.

    Ids come from data files that anyone may have written, so an id is only ever a plain file name
    ("../private/passport", "/etc/x", "C:x" and NUL bytes are refused) and a file that resolves outside the
    folder through a link is refused too. The sub-folders are listed once and each id is looked up once:
    VIST splits its 200k photos into train/val/test folders, and a photo appears in several stories.
    """

    def __init__(self, folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES):
        self.folder = folder
        self.suffixes = suffixes
        self._root = folder.resolve()
        self._directories = [folder] + (sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else [])
        self._found: dict[str, Path | None] = {}  # a VIST photo appears in several stories

    def find(self, stem: str) -> Path | None:
        """The image for `stem`, or None; `UnsafeNameError` for a name that is not a plain file name or a
        file that leads outside the folder."""
        if not stem or stem in (".", "..") or any(c in stem for c in _NOT_IN_A_NAME):
            raise UnsafeNameError(f"the id {stem!r} is not a plain file name (no '/', '\\', ':', NUL or '..'); "
                                  f"it cannot name an image in {self.folder}")
        if stem not in self._found:
            self._found[stem] = self._look_up(stem)
        return self._found[stem]

    def _look_up(self, stem: str) -> Path | None:
        for directory in self._directories:
            for suffix in self.suffixes:
                for candidate in (directory / f"{stem}{suffix}", directory / f"{stem}{suffix.upper()}"):
                    if candidate.is_file():
                        if not candidate.resolve().is_relative_to(self._root):
                            raise UnsafeNameError(f"image {candidate} leads outside {self.folder} (through a link); "
                                                  "copy the file into the folder instead")
                        return candidate
        return None


def inside_folder(folder: Path, relative: str, what: str) -> Path:
    """`folder / relative` for a relative path from a data file, refused where it would leave `folder`.

    Absolute paths, drive letters, '..' and NUL bytes are refused by their spelling; a path that leaves the
    folder through a link is refused by where it resolves.
    """
    pure_posix, pure_windows = PurePosixPath(relative), PureWindowsPath(relative)
    if ("\x00" in relative or pure_posix.is_absolute() or pure_windows.is_absolute() or pure_windows.drive
            or ".." in pure_posix.parts or ".." in pure_windows.parts):
        raise UnsafeNameError(f"{what} {relative!r} is not a relative path inside {folder} "
                              "(no absolute paths, drive letters, '..' or NUL bytes)")
    target = folder / relative
    if target.exists() and not target.resolve().is_relative_to(folder.resolve()):
        raise UnsafeNameError(f"{what} {relative!r} leads outside {folder} (through a link); "
                              "copy the file into the folder instead")
    return target


def require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise MiniGPT5Error(f"{what} {path} does not exist")


def load_json(path: Path, what: str) -> Any:
    require_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MiniGPT5Error(f"{what} {path} is not valid UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise MiniGPT5Error(f"{what} {path} is nested too deeply to be read; it is not a dataset file") from None
