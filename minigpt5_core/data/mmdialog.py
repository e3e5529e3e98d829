"""MMDialog: JSON lines of conversations with `__TEXT__` / `__MEDIA__` turns (`mmdialog`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .records import (
    DialogRecord,
    ImageFolder,
    ImageRef,
    ReadReport,
    UnsafeNameError,
    clean_text,
    require_file,
)

# ---- MMDialog -----------------------------------------------------------------------------------


def read_mmdialog(path: str | Path, images: str | Path, report: ReadReport) -> Iterator[DialogRecord]:
    """MMDialog JSON lines: `{"conversation_id", "conversation": [{"turn": [{"__TEXT__": ..}, {"__MEDIA__": key}]}]}`.

    Media are `<media_key>.jpg` in `images`. Our prompt format has one picture per turn: further
    pictures of a turn are dropped and counted (`report.dropped`; the dialogue is kept). A dialogue with a missing
    picture, or fewer than two usable turns, is skipped.
    """
    path, folder = Path(path), Path(images)
    require_file(path, "MMDialog file")
    photos = ImageFolder(folder)
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
            turns, missing, unsafe = [], False, False
            for parts in raw_turns:
                texts = [clean_text(p["__TEXT__"]) for p in parts if isinstance(p, dict) and "__TEXT__" in p]
                media = [str(p["__MEDIA__"]) for p in parts if isinstance(p, dict) and "__MEDIA__" in p]
                if len(media) > 1:
                    report.drop("extra pictures of a turn", where, len(media) - 1)
                ref = None
                if media:
                    try:
                        found = photos.find(media[0])
                    except UnsafeNameError:
                        unsafe = True
                        break
                    if found is None:
                        missing = True
                        break
                    ref = ImageRef(found)
                text = " ".join(t for t in texts if t)
                if text or ref is not None:
                    turns.append((text, ref))
            if unsafe:
                report.skip("dialogue with a media id leading outside the media folder", where)
                continue
            if missing:
                report.skip("dialogue with a missing picture", where)
                continue
            if len(turns) < 2:
                report.skip("dialogue with fewer than two turns", where)
                continue
            report.read += 1
            yield DialogRecord(dialog_id, turns)
