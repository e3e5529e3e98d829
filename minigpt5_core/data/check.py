"""`python -m minigpt5_core.data`: read a dataset the way training would and report what was skipped."""

from __future__ import annotations

import json

from ..cli import ArgumentParser, run_cli
from .records import FORMATS, CaptionRecord, DataError, ReadReport, StoryRecord
from .samples import read_records


def check(argv: list[str] | None = None) -> int:
    """`python -m minigpt5_core.data --format F --path P [...]`: read a dataset and print its report.

    `--decode` also decodes every image (slow on a large set), so that a training run meets no surprise.
    Exit codes as in `minigpt5_core.cli` (2: bad input, one line).
    """
    return run_cli("minigpt5_core.data", _check, argv)


def _check(argv: list[str]) -> int:
    import sys

    parser = ArgumentParser(prog="python -m minigpt5_core.data", description=check.__doc__.split("\n")[0])
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--path", required=True)
    parser.add_argument("--images")
    parser.add_argument("--image-map")
    parser.add_argument("--decode", action="store_true", help="decode every image as well")
    args = parser.parse_args(argv)
    report = ReadReport(f"{args.format}:{args.path}")
    records = list(read_records({"format": args.format, "path": args.path, "images": args.images,
                                 "image_map": args.image_map}, report))
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
