"""VIST, in the two forms people have on disk: the one parser and photo lookup, for training and for storybook.

1. `vist-sis`, the raw story-in-sequence JSON of the VIST release: `annotations` is a list of one-element
   lists; a story is the annotations sharing a `story_id`, ordered by `worker_arranged_photo_order`; the
   text is `original_text` (cased; `text` is lower-cased and tokenised). Photos are files named by
   `photo_flickr_id` in a photo folder or one level below it (the release splits train/val/test).
2. `vist-cleaned`, MiniGPT-5's cleaned form: `{story_id: [{caption, image_id, sequence_index}]}` plus a JSON
   map from image id to a path relative to the map's folder (or to an images folder given instead).

A file is parsed once (`parse_vist_sis`, `parse_vist_cleaned`), then one story at a time is built from it
(`.story(story_id)`), which either returns a whole `VistStory` or raises `VistStoryError` naming what is
wrong. Training reads every story and skips and counts the broken ones (`read_vist_sis`,
`read_vist_cleaned`: one bad story in 50k must not end a run); `python -m storybook make --vist` prints one
chosen story and shows the error as it is. Ids and paths come from files anyone may have written, so none
of them can name a picture outside the photo folder (`ImageFolder`, `inside_folder`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MiniGPT5Error
from .records import (
    DataError,
    ImageFolder,
    ImageRef,
    ReadReport,
    StoryRecord,
    UnsafeNameError,
    clean_text,
    inside_folder,
    load_json,
)

SIS_KEYS = ("worker_arranged_photo_order", "original_text", "photo_flickr_id")
CLEANED_KEYS = ("caption", "image_id", "sequence_index")

# Why a story is skipped, as counted in a ReadReport.
MALFORMED_SIS = "malformed story (missing order, text or photo id)"
MALFORMED_CLEANED = "malformed story (needs caption, image_id, sequence_index)"
EMPTY_CAPTION = "story with an empty caption"
MISSING_PHOTO = "story with a missing photo"
MISSING_IMAGE = "story with a missing image"
NOT_IN_MAP = "image id not in the image map"
OUTSIDE = "story with a picture outside the photo folder"


class VistStoryError(DataError):
    """One story cannot be used. `reason` is its short name in a `ReadReport`; the message says what and where."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VistStep:
    text: str
    image_id: str
    image: Path
    details: dict[str, Any] = field(default_factory=dict)  # album_id, storylet_id where the file has them


@dataclass(frozen=True)
class VistStory:
    story_id: str
    form: str  # "vist-sis" or "vist-cleaned"
    steps: list[VistStep]
    title: str | None = None  # the album's title, where a SIS file has one

    def record(self) -> StoryRecord:
        return StoryRecord(self.story_id, [s.text for s in self.steps], [ImageRef(s.image) for s in self.steps])


def vist_form(data: Any) -> str | None:
    """Which VIST form parsed JSON is in ("vist-sis", "vist-cleaned"), or None for neither."""
    if isinstance(data, dict) and "annotations" in data:
        return "vist-sis"
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        return "vist-cleaned"
    return None


def _whole_number(value: Any) -> int | None:
    """An order or index as VIST files write it (2, "2", 2.0); None for anything else ("b", 1.5, true, null).

    Files mix ints and strings; they must sort as numbers, never as text ("10" < "9") or not at all.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    return None


def _image_id(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


# ---- raw story-in-sequence ----------------------------------------------------------------------


@dataclass
class SisFile:
    """A parsed story-in-sequence file: its annotations grouped by story, and the album titles."""

    path: Path
    photos: ImageFolder
    stories: dict[str, list[dict]]
    malformed: list[int]  # indices of annotations that are not an object with a story_id
    album_titles: dict[str, str]

    def story(self, story_id: str) -> VistStory:
        """The story's steps in the workers' order, each with its photo; `VistStoryError` if any is unusable."""
        where = f"{self.path}: story {story_id}"
        if story_id not in self.stories:
            raise MiniGPT5Error(f"story id {story_id} is not in {self.path} ({len(self.stories)} stories)")
        ordered = []
        for entry in self.stories[story_id]:
            for key in SIS_KEYS:
                if key not in entry:
                    raise VistStoryError(MALFORMED_SIS, f"{where}: an annotation has no {key!r}")
            order = _whole_number(entry["worker_arranged_photo_order"])
            if order is None:
                raise VistStoryError(MALFORMED_SIS, f"{where}: worker_arranged_photo_order "
                                                    f"{entry['worker_arranged_photo_order']!r} is not a number")
            photo_id = _image_id(entry["photo_flickr_id"])
            if photo_id is None or not isinstance(entry["original_text"], str):
                raise VistStoryError(MALFORMED_SIS, f"{where}: photo_flickr_id must be a string or number and "
                                                    "original_text a string")
            ordered.append((order, photo_id, entry))
        ordered.sort(key=lambda item: item[0])
        steps, missing = [], []
        for number, (_, photo_id, entry) in enumerate(ordered, start=1):
            text = clean_text(entry["original_text"])
            if not text:
                raise VistStoryError(EMPTY_CAPTION, f"{where}: the text of step {number} is empty")
            try:
                photo = self.photos.find(photo_id)
            except UnsafeNameError as exc:
                raise VistStoryError(OUTSIDE, f"{where}: photo_flickr_id: {exc}") from None
            if photo is None:
                missing.append(photo_id)
                continue
            details = {k: entry[k] for k in ("album_id", "storylet_id") if k in entry}
            steps.append(VistStep(text, photo_id, photo, details))
        if missing:
            suffixes = "/".join(self.photos.suffixes)
            raise VistStoryError(MISSING_PHOTO, f"photos {', '.join(missing)} of story {story_id} not found in "
                                                f"{self.photos.folder} (looked for <photo id>{suffixes} there and "
                                                "one folder below)")
        albums = {str(entry.get("album_id")) for _, _, entry in ordered}
        title = next((t for album, t in self.album_titles.items() if album in albums), None)
        return VistStory(story_id, "vist-sis", steps, title)


def parse_vist_sis(data: Any, path: str | Path, images: str | Path) -> SisFile:
    """A story-in-sequence file's parsed JSON, with the folder its photos are in."""
    path, folder = Path(path), Path(images)
    if not (isinstance(data, dict) and isinstance(data.get("annotations"), list)):
        raise MiniGPT5Error(f"{path} is not a VIST story-in-sequence file: it has no 'annotations' list")
    if not folder.is_dir():
        raise MiniGPT5Error(f"VIST photo folder {folder} does not exist")
    stories: dict[str, list[dict]] = {}
    malformed = []
    for i, item in enumerate(data["annotations"]):
        entry = item[0] if isinstance(item, list) and item else item
        if not (isinstance(entry, dict) and _image_id(entry.get("story_id")) is not None):
            malformed.append(i)
            continue
        stories.setdefault(str(entry["story_id"]), []).append(entry)
    titles = {}
    for album in data.get("albums") or []:
        if isinstance(album, dict) and isinstance(album.get("title"), str) and album["title"].strip():
            titles.setdefault(str(album.get("id")), album["title"].strip())
    return SisFile(path, ImageFolder(folder), stories, malformed, titles)


def _usable_stories(parsed: "SisFile | CleanedFile", path: Path, report: ReadReport) -> Iterator[StoryRecord]:
    """The records of a parsed file's stories; a story with a broken step is skipped whole and counted."""
    for story_id in parsed.stories:
        try:
            story = parsed.story(story_id)
        except VistStoryError as exc:
            report.skip(exc.reason, f"{path.name}: story {story_id}")
            continue
        report.read += 1
        yield story.record()


def read_vist_sis(path: str | Path, images: str | Path, report: ReadReport) -> Iterator[StoryRecord]:
    """Every usable story of a SIS file; a story with a broken step is skipped whole and counted."""
    path = Path(path)
    sis = parse_vist_sis(load_json(path, "VIST SIS file"), path, images)
    for i in sis.malformed:
        report.skip("malformed annotation", f"{path.name}: annotations[{i}]")
    yield from _usable_stories(sis, path, report)


# ---- MiniGPT-5's cleaned form -------------------------------------------------------------------


@dataclass
class CleanedFile:
    """A parsed cleaned-VIST file and its image map; map paths are relative to `base`."""

    path: Path
    stories: dict[str, Any]
    mapping: dict[str, Any]
    map_path: Path
    base: Path

    def story(self, story_id: str) -> VistStory:
        """The story's steps by `sequence_index`, each with its image; `VistStoryError` if any is unusable."""
        where = f"{self.path}: story {story_id}"
        if story_id not in self.stories:
            raise MiniGPT5Error(f"story id {story_id} is not in {self.path} ({len(self.stories)} stories)")
        steps = self.stories[story_id]
        if not isinstance(steps, list) or not steps:
            raise VistStoryError(MALFORMED_CLEANED, f"{where}: expected a list of steps "
                                                    "{caption, image_id, sequence_index}")
        ordered = []
        for i, step in enumerate(steps):
            if not (isinstance(step, dict) and set(CLEANED_KEYS) <= set(step)):
                raise VistStoryError(MALFORMED_CLEANED, f"{where}: step {i} needs caption, image_id and "
                                                        "sequence_index")
            index, image_id = _whole_number(step["sequence_index"]), _image_id(step["image_id"])
            if index is None:
                raise VistStoryError(MALFORMED_CLEANED, f"{where}: step {i} has sequence_index "
                                                        f"{step['sequence_index']!r}; it must be a whole number")
            if image_id is None or not isinstance(step["caption"], str):
                raise VistStoryError(MALFORMED_CLEANED, f"{where}: step {i} needs a string caption and a string "
                                                        "or number image_id")
            ordered.append((index, image_id, step))
        ordered.sort(key=lambda item: item[0])
        result, missing = [], []
        for number, (_, image_id, step) in enumerate(ordered, start=1):
            text = clean_text(step["caption"])
            if not text:
                raise VistStoryError(EMPTY_CAPTION, f"{where}: the caption of step {number} is empty")
            if image_id not in self.mapping:
                raise VistStoryError(NOT_IN_MAP, f"image id {image_id} (story {story_id}) is not in the image "
                                                 f"map {self.map_path}")
            relative = self.mapping[image_id]
            if not isinstance(relative, str):
                raise VistStoryError(NOT_IN_MAP, f"image map {self.map_path}: the path of image {image_id} is "
                                                 f"{relative!r}, not a string")
            try:
                image = inside_folder(self.base, relative, f"image map {self.map_path}: image {image_id}'s path")
            except UnsafeNameError as exc:
                raise VistStoryError(OUTSIDE, str(exc)) from None
            if not image.is_file():
                missing.append(str(image))
                continue
            result.append(VistStep(text, image_id, image))
        if missing:
            raise VistStoryError(MISSING_IMAGE, f"pictures of story {story_id} not found: {', '.join(missing)}")
        return VistStory(story_id, "vist-cleaned", result)


def parse_vist_cleaned(data: Any, path: str | Path, image_map: str | Path,
                       images: str | Path | None = None) -> CleanedFile:
    """A cleaned-VIST file's parsed JSON, with its image map (read here) and the folder the map's paths are in."""
    path, map_path = Path(path), Path(image_map)
    if not isinstance(data, dict):
        raise MiniGPT5Error(f"{path} is not a cleaned VIST file ({{story_id: [{{caption, image_id, sequence_index}}]}})")
    mapping = load_json(map_path, "VIST image map")
    if not isinstance(mapping, dict):
        raise MiniGPT5Error(f"image map {map_path} must be a JSON object {{image_id: path}}")
    base = Path(images) if images is not None else map_path.parent
    return CleanedFile(path, {str(k): v for k, v in data.items()}, mapping, map_path, base)


def read_vist_cleaned(
    path: str | Path, image_map: str | Path, report: ReadReport, *, images: str | Path | None = None,
) -> Iterator[StoryRecord]:
    """Every usable story of a cleaned-VIST file; a story with a broken step is skipped whole and counted."""
    path = Path(path)
    cleaned = parse_vist_cleaned(load_json(path, "cleaned VIST file"), path, image_map, images)
    yield from _usable_stories(cleaned, path, report)
