"""An evaluation's output folder, filled case by case by one or several processes, and resumable.

Why: the paper's VIST protocol is about 25,000 Stable Diffusion samplings; one GPU needs days for it, and a
run that kept everything in memory until the end lost it all in a crash. So every process writes each case
as soon as it is done, `accelerate launch` can spread the cases over many GPUs, and a run started again in
the same folder skips what is there.

    OUT/run.json          what the run is (protocol, model, data, seed, sampling options): its identity
    OUT/cases/<id>.json   one record per finished case: its index, seed, the rank that made it, its pictures
                          and text (or why it was skipped)
    OUT/images/<id>.png   the pictures
    OUT/metrics.json      written once, by the main process, after every case has its record

Every file is written under a temporary name and renamed, so a process killed at any moment leaves whole
files only; a picture whose record is missing belongs to an unfinished case and is made again. Which cases a
process takes (`share`) depends only on the cases and on what the folder holds, never on timing, and each
case's seed is the run's seed plus the case's index, so 1 or N processes give the same pictures.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import MiniGPT5Error
from ..layout import CONFIG_FILE, weight_files

RUN_FILE = "run.json"
CASES_DIR = "cases"
IMAGES_DIR = "images"
METRICS_FILE = "metrics.json"
_HOW = "resume it with the same settings, or choose another --out"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(model: str, presets: Sequence[str]) -> dict[str, Any]:
    """What tells one model from another without reading its weights (a 7B model is 14 GB): a preset's name, or a
    folder's path, config and weight files' sizes and modification times."""
    if model in presets:
        return {"preset": model}
    folder = Path(model).resolve()
    if not (folder / CONFIG_FILE).is_file():
        return {"folder": str(folder)}  # loading it will say what is wrong
    files = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in weight_files(folder)}
    return {"folder": str(folder), "config_sha256": _sha256(folder / CONFIG_FILE), "weights": files}


def data_identity(entry: dict[str, Any]) -> dict[str, Any]:
    """The data entry with absolute paths and the data file's digest (a file edited in place is other data)."""
    absolute = {k: (str(Path(v).resolve()) if k != "format" and v else v) for k, v in entry.items()}
    path = Path(entry["path"])
    return {**absolute, "sha256": _sha256(path) if path.is_file() else None}


def share(pending: Sequence[int], rank: int, world: int) -> list[int]:
    """The case indices process `rank` of `world` makes: every world-th pending one (balanced, deterministic)."""
    return list(pending[rank::world])


def _write_atomically(path: Path, write) -> None:
    """`write(temporary_path)`, then rename: readers (and a resumed run) see the whole file or none."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class RunFolder:
    """The --out folder of one evaluation run (module docstring); `identity` is what a resume must match."""

    def __init__(self, root: str | os.PathLike, identity: dict[str, Any]):
        self.root = Path(root).absolute()
        self.identity = identity

    def check(self, *, resume: bool) -> None:
        """Raise MiniGPT5Error if this run may not write here: a folder of other files, or another run's.

        `resume=True` insists on an earlier compatible run being there."""
        exists = self.root.is_dir() and any(self.root.iterdir())
        if self.root.exists() and not self.root.is_dir():
            raise MiniGPT5Error(f"{self.root} exists and is not a folder; choose another --out")
        if not exists:
            if resume:
                raise MiniGPT5Error(f"--resume: {self.root} holds no earlier evaluation; run without --resume")
            return
        if not (self.root / RUN_FILE).is_file():
            raise MiniGPT5Error(f"{self.root} is not the --out of an earlier evaluation (no {RUN_FILE}), so nothing "
                                "there is touched; choose another --out, or move its files away yourself")
        try:
            earlier = json.loads((self.root / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MiniGPT5Error(f"{self.root / RUN_FILE} cannot be read ({exc}); choose another --out") from None
        differs = [key for key in sorted(set(earlier) | set(self.identity)) if earlier.get(key) != self.identity.get(key)]
        if differs:
            values = [(key, earlier.get(key), self.identity.get(key)) for key in differs]
            shown = "; ".join(f"{key}: there {a!r}, here {b!r}" for key, a, b in values
                              if not isinstance(a, dict) and not isinstance(b, dict))  # a model or data: its name says it
            raise MiniGPT5Error(f"{self.root} holds an evaluation with another {', '.join(differs)}"
                                f"{f' ({shown})' if shown else ''}; {_HOW}")

    def start(self) -> None:
        """Create the folders and run.json (the main process, once, before any case is written)."""
        (self.root / CASES_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / IMAGES_DIR).mkdir(exist_ok=True)
        if not (self.root / RUN_FILE).is_file():
            _write_atomically(self.root / RUN_FILE,
                              lambda p: p.write_text(json.dumps(self.identity, indent=2), encoding="utf-8"))

    def records(self) -> dict[str, dict[str, Any]]:
        """The finished cases' records by case id."""
        found = {}
        for path in sorted((self.root / CASES_DIR).glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            found[record["case"]] = record
        return found

    def done_count(self) -> int:
        return sum(1 for p in (self.root / CASES_DIR).glob("*.json"))

    def write_case(self, record: dict[str, Any], pictures: Sequence[tuple[str, Image.Image]]) -> None:
        """The case's pictures first, its record last: a record always names pictures that are there."""
        names = []
        for name, picture in pictures:
            path = self.root / IMAGES_DIR / f"{name}.png"
            _write_atomically(path, lambda p, picture=picture: picture.save(p, format="PNG"))
            names.append(f"{IMAGES_DIR}/{path.name}")
        text = json.dumps({**record, "pictures": names}, indent=1)
        _write_atomically(self.root / CASES_DIR / f"{record['case']}.json", lambda p: p.write_text(text, encoding="utf-8"))

    def picture(self, name: str) -> Image.Image:
        with Image.open(self.root / name) as image:
            return image.convert("RGB")

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        text = json.dumps(metrics, indent=2)
        _write_atomically(self.root / METRICS_FILE, lambda p: p.write_text(text, encoding="utf-8"))
