"""`python -m minigpt5_core.shapes train|eval` — train the bundled shapes-world model, or evaluate it.

    python -m minigpt5_core.shapes train --out out/shapes            the full model (resumable; 77 min timed)
    python -m minigpt5_core.shapes train --out out/shapes --variants full,no-stage1,no-cfg,no-caption-loss
    python -m minigpt5_core.shapes train --out out/shapes --ship     ... and copy the full model and the
                                                                     judge into minigpt5_core/assets/
    python -m minigpt5_core.shapes eval                              the table for the shipped model
    python -m minigpt5_core.shapes eval --variants out/shapes/variants   ... with the ablation rows
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..cli import ArgumentParser, UsageError, run_cli

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = ASSETS / "shapes-default"
DEFAULT_JUDGE = ASSETS / "shapes-judge"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; exit codes as in `minigpt5_core.cli` (2: bad input, one line; 130: interrupted)."""
    return run_cli("minigpt5_core.shapes", _main, argv)


def _main(argv: Sequence[str]) -> int:
    from .train import VARIANTS, train_all

    parser = ArgumentParser(prog="python -m minigpt5_core.shapes", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train every phase (77 min timed on 2 CPU cores)")
    train.add_argument("--out", default="out/shapes", help="working folder; finished phases are skipped")
    train.add_argument("--variants", default="full",
                       help=f"comma-separated MiniGPT-5 variants: {', '.join(VARIANTS)} "
                            "(default: full; each ablation adds about 30 min)")
    train.add_argument("--workers", type=int, default=2,
                       help="processes training independent phases side by side (default 2: the image "
                            "generator beside the language model, then two variants at a time)")
    train.add_argument("--ship", action="store_true", help=f"copy the full model to {DEFAULT_MODEL}")
    ev = sub.add_parser("eval", help="print the evaluation table")
    ev.add_argument("--model", default=str(DEFAULT_MODEL), help="the full model's folder")
    ev.add_argument("--variants", help="a folder holding ablation models (no-stage1/, no-cfg/, ...)")
    ev.add_argument("--judge", default=str(DEFAULT_JUDGE))
    ev.add_argument("--stories", type=int, default=20, help="evaluation stories (5 steps each)")
    args = parser.parse_args(argv)
    if args.command == "train":
        if args.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {args.workers}")
        variants = [v for v in args.variants.split(",") if v]
        unknown = set(variants) - set(VARIANTS)
        if unknown:
            raise UsageError(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
        train_all(args.out, variants=variants, ship=DEFAULT_MODEL if args.ship else None,
                  judge_dir=DEFAULT_JUDGE if args.ship else None, workers=args.workers)
        return 0
    from .evaluate import evaluate_table

    return evaluate_table(Path(args.model), Path(args.judge), Path(args.variants) if args.variants else None,
                          args.stories)


if __name__ == "__main__":
    sys.exit(main())
