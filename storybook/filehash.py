"""SHA-256 of a model folder for a book's manifest, remembered per file.

A converted MiniGPT-5 is about 14 GB: reading every byte for every book costs from seconds (SSD) to minutes
(disk). Each file's digest is kept in a small JSON cache keyed by its absolute path, size and modification
time (as AUTOMATIC1111's web UI keeps checkpoint hashes), so a folder is read once until a file changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

CACHE_DIR_NAME = "minigpt5-storybook"
CACHE_FILE_NAME = "file-hashes.json"


def default_cache_file() -> Path:
    """`$XDG_CACHE_HOME/minigpt5-storybook/file-hashes.json` (`~/.cache/...` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / CACHE_DIR_NAME / CACHE_FILE_NAME


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_cache(cache: Path) -> dict:
    try:
        data = json.loads(cache.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError, RecursionError):
        return {}


def _write_cache(cache: Path, entries: dict) -> None:
    """Best effort: a read-only home only costs the next run a re-read. Written whole, then renamed."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(entries, indent=0, sort_keys=True))
        partial.replace(cache)
    except OSError:
        pass


def _still_valid(known: object, stat: os.stat_result) -> bool:
    """A cache entry that matches the file and holds a real digest: a damaged or hand-edited cache only costs
    a re-read, never a wrong fingerprint or a crash."""
    return (isinstance(known, dict) and known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns
            and isinstance(known.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", known["sha256"]) is not None)


def _known_sha256(path: Path, entries: dict) -> tuple[str, bool]:
    """The file's SHA-256 from `entries` while its size and modification time match, else read (and entered);
    returns it and whether `entries` changed."""
    stat = path.stat()
    key = str(path.resolve())
    known = entries.get(key)
    if _still_valid(known, stat):
        return known["sha256"], False
    digest = file_sha256(path)
    entries[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    return digest, True


def cached_file_sha256(path: Path, cache: Path | None = None) -> str:
    """`file_sha256`, read once until the file changes (the digest cache of `folder_sha256`)."""
    cache = default_cache_file() if cache is None else cache
    entries = _read_cache(cache)
    digest, changed = _known_sha256(path, entries)
    if changed:
        _write_cache(cache, entries)
    return digest


def folder_sha256(folder: Path, cache: Path | None = None) -> str:
    """"sha256:<hex>" over every file of `folder`: its relative name and its own SHA-256, in name order."""
    cache = default_cache_file() if cache is None else cache
    entries = _read_cache(cache)
    changed = False
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        file_digest, entered = _known_sha256(path, entries)
        changed |= entered
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + file_digest.encode() + b"\n")
    if changed:
        _write_cache(cache, entries)
    return "sha256:" + digest.hexdigest()
