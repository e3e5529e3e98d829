"""The shapes world written in the real dataset formats, so the toy model trains through the same readers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
