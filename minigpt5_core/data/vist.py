"""VIST: the raw story-in-sequence JSON (`vist-sis`) and MiniGPT-5's cleaned form (`vist-cleaned`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import MiniGPT5Error
from .records import (
    ImageRef,
    ReadReport,
    StoryRecord,
    clean_text,
    find_image,
    load_json,
)

# ---- VIST ---------------------------------------------------------------------------------------


def read_vist_sis(path: str | Path, images: str | Path, report: ReadReport) -> Iterator[StoryRecord]:
    """Raw SIS JSON: stories grouped by `story_id`, ordered by `worker_arranged_photo_order`, `original_text`.

    Photos are `<photo_flickr_id>.<jpg|png|...>` in `images` or one folder below. A story with a
    missing photo or a malformed annotation is skipped whole (a story needs all its steps).
    """
    path, folder = Path(path), Path(images)
    data = load_json(path, "VIST SIS file")
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
            steps = [(clean_text(e["original_text"]), str(e["photo_flickr_id"])) for e in ordered]
        except (KeyError, TypeError, ValueError):
            report.skip("malformed story (missing order, text or photo id)", where)
            continue
        if any(not text for text, _ in steps):
            report.skip("story with an empty caption", where)
            continue
        refs = []
        for _, photo in steps:
            if photo not in index:
                index[photo] = find_image(folder, photo)
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
    data = load_json(path, "cleaned VIST file")
    mapping = load_json(map_path, "VIST image map")
    if not isinstance(data, dict):
        raise MiniGPT5Error(f"{path} is not a cleaned VIST file ({{story_id: [{{caption, image_id, sequence_index}}]}})")
    if not isinstance(mapping, dict):
        raise MiniGPT5Error(f"image map {map_path} must be a JSON object {{image_id: path}}")
    base = Path(images) if images is not None else map_path.parent
    for story_id, steps in data.items():
        where = f"{path.name}: story {story_id}"
        try:
            ordered = sorted(steps, key=lambda s: int(s["sequence_index"]))
            pairs = [(clean_text(s["caption"]), str(s["image_id"])) for s in ordered]
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
