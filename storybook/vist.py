"""Importers for VIST stories, in the two forms people have on disk.

1. The raw story-in-sequence (SIS) JSON of the VIST release: `annotations` is a list of one-element
   lists; a story is the annotations sharing a `story_id`, ordered by `worker_arranged_photo_order`; the
   printed text is `original_text` (cased; `text` is lower-cased and tokenised). Photos are files named
   by `photo_flickr_id` in an image folder (or one level below it: the release splits train/val/test).
2. MiniGPT-5's "cleaned" form: `{story_id: [{caption, image_id, sequence_index}]}` plus a JSON map from
   image id to a path (relative to the map's folder, or to `--images` when given).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from storybook.book import StoryInput
from storybook.errors import StorybookError
from storybook.manifest import IMAGE_SUFFIXES, Page, Story

_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise StorybookError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise StorybookError(f"{what} {path} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise StorybookError(f"{what} {path} is not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from None


def _pick(stories: dict[str, list], story_id: str | None, path: Path) -> str:
    examples = ", ".join(list(stories)[:5])
    if story_id is None:
        if len(stories) == 1:
            return next(iter(stories))
        raise StorybookError(f"{path} holds {len(stories)} stories; pick one with --story-id (e.g. {examples})")
    if str(story_id) not in stories:
        raise StorybookError(f"story id {story_id} is not in {path} (it holds {len(stories)} stories, "
                             f"e.g. {examples})")
    return str(story_id)


def _page_name(number: int, photo_id: str, source: Path) -> str:
    return f"page-{number:03d}-{_SAFE_ID.sub('_', photo_id)}{source.suffix.lower()}"


def _find_photo(folder: Path, photo_id: str) -> Path | None:
    for directory in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        for suffix in IMAGE_SUFFIXES:
            for candidate in (directory / f"{photo_id}{suffix}", directory / f"{photo_id}{suffix.upper()}"):
                if candidate.is_file():
                    return candidate
    return None


def from_vist(path: str | Path, *, images: str | Path | None = None, image_map: str | Path | None = None,
              story_id: str | None = None) -> StoryInput:
    """One VIST story as input; the form (raw SIS or cleaned) is recognised from the file's content."""
    path = Path(path)
    data = _read_json(path, "VIST file")
    if isinstance(data, dict) and "annotations" in data:
        if images is None:
            raise StorybookError("a VIST story-in-sequence file needs the photo folder: add --images DIR")
        return _from_sis(data, path, Path(images), story_id)
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        if image_map is None:
            raise StorybookError("a cleaned VIST file needs its image id -> path map: add --image-map FILE")
        return _from_cleaned(data, path, Path(image_map), Path(images) if images else None, story_id)
    raise StorybookError(f"{path} is neither a VIST story-in-sequence file (no 'annotations') nor a cleaned "
                         "VIST file ({story_id: [{caption, image_id, sequence_index}]})")


def _from_sis(data: dict, path: Path, folder: Path, story_id: str | None) -> StoryInput:
    if not folder.is_dir():
        raise StorybookError(f"photo folder {folder} does not exist")
    annotations = data["annotations"]
    if not isinstance(annotations, list):
        raise StorybookError(f"{path}: 'annotations' must be a list of one-element lists")
    stories: dict[str, list[dict]] = {}
    for i, item in enumerate(annotations):
        if not (isinstance(item, list) and item and isinstance(item[0], dict) and "story_id" in item[0]):
            raise StorybookError(f"{path}: annotations[{i}] is not a one-element list holding an object "
                                 "with a story_id")
        stories.setdefault(str(item[0]["story_id"]), []).append(item[0])
    chosen = _pick(stories, story_id, path)
    entries = []
    for a in stories[chosen]:
        for key in ("worker_arranged_photo_order", "original_text", "photo_flickr_id"):
            if key not in a:
                raise StorybookError(f"{path}: story {chosen}: an annotation has no {key!r}")
        try:
            entries.append((int(a["worker_arranged_photo_order"]), a))
        except (TypeError, ValueError):
            raise StorybookError(f"{path}: story {chosen}: worker_arranged_photo_order "
                                 f"{a['worker_arranged_photo_order']!r} is not a number") from None
    entries.sort(key=lambda e: e[0])
    pages, sources, missing = [], {}, []
    for number, (_, a) in enumerate(entries, start=1):
        photo_id = str(a["photo_flickr_id"])
        photo = _find_photo(folder, photo_id)
        if photo is None:
            missing.append(photo_id)
            continue
        name = _page_name(number, photo_id, photo)
        sources[name] = photo
        provenance = {"source": "vist-sis", "story_id": chosen, "photo_id": photo_id}
        provenance.update({k: a[k] for k in ("album_id", "storylet_id") if k in a})
        pages.append(Page(text=str(a["original_text"]), image=name, provenance=provenance))
    if missing:
        raise StorybookError(f"photos {', '.join(missing)} of story {chosen} not found in {folder} "
                             f"(looked for <photo id>{'/'.join(IMAGE_SUFFIXES)} there and one folder below)")
    album_ids = {str(a.get("album_id")) for _, a in entries}
    titles = [str(al["title"]) for al in data.get("albums") or []
              if isinstance(al, dict) and str(al.get("id")) in album_ids and str(al.get("title", "")).strip()]
    title = titles[0] if titles else f"VIST story {chosen}"
    return StoryInput(Story(title=title, pages=pages), sources)


def _from_cleaned(data: dict, path: Path, map_path: Path, folder: Path | None, story_id: str | None) -> StoryInput:
    mapping = _read_json(map_path, "image map")
    if not isinstance(mapping, dict):
        raise StorybookError(f"image map {map_path} must be a JSON object {{image_id: path}}")
    base = folder if folder is not None else map_path.parent
    chosen = _pick(data, story_id, path)
    steps = data[chosen]
    for i, step in enumerate(steps):
        if not (isinstance(step, dict) and {"caption", "image_id", "sequence_index"} <= set(step)):
            raise StorybookError(f"{path}: story {chosen}: step {i} needs caption, image_id and sequence_index")
    pages, sources, missing = [], {}, []
    for number, step in enumerate(sorted(steps, key=lambda s: s["sequence_index"]), start=1):
        image_id = str(step["image_id"])
        if image_id not in mapping:
            raise StorybookError(f"image id {image_id} (story {chosen}) is not in the image map {map_path}")
        photo = base / str(mapping[image_id])
        if not photo.is_file():
            missing.append(str(photo))
            continue
        name = _page_name(number, image_id, photo)
        sources[name] = photo
        pages.append(Page(text=str(step["caption"]), image=name,
                          provenance={"source": "vist-cleaned", "story_id": chosen, "image_id": image_id}))
    if missing:
        raise StorybookError(f"pictures of story {chosen} not found: {', '.join(missing)}")
    return StoryInput(Story(title=f"VIST story {chosen}", pages=pages), sources)
