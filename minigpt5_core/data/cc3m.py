"""CC3M captions: a TSV `caption<TAB>image_path` (`cc3m-tsv`) or img2dataset webdataset shards (`cc3m-wds`)."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import MiniGPT5Error
from .records import CaptionRecord, ImageRef, ReadReport, clean_text, require_file

# ---- CC3M ---------------------------------------------------------------------------------------


def read_cc3m_tsv(path: str | Path, report: ReadReport, *, images: str | Path | None = None) -> Iterator[CaptionRecord]:
    """`caption<TAB>image_path` lines; paths are relative to `images` (default: the TSV's folder).

    A first line `caption<TAB>image_path` (the official files have it) is a header, not a record.
    """
    path = Path(path)
    require_file(path, "CC3M TSV")
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
            caption, image = clean_text(fields[0]), fields[1].strip()
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
                if caption is None or not clean_text(caption):
                    report.skip("sample without a caption", where)
                    continue
                info = members[image_ext]
                report.read += 1
                yield CaptionRecord(clean_text(caption), ImageRef(shard, info.offset_data, info.size, info.name), key=where)
