"""`python -m minigpt5_core`: small jobs with the library alone.

    python -m minigpt5_core demo --out out/demo        tiny random model: prompt -> text + pictures on disk
    python -m minigpt5_core save-tiny --out DIR        write a tiny random model folder (for trying tools)

The tiny model is random (its text is gibberish and its pictures are noise), but every stage of the real
pipeline runs: vision encoder, KV-cached voken decoding, mapper, diffusers sampling. For a model that has
learned something, use the bundled shapes-world model: `python -m storybook make`.

Neither command deletes anything that is not its own: an existing --out is replaced only if it is empty or
holds nothing but what the same command writes. Exit codes: 0 done, 2 bad input (one line saying what to
fix), 1 internal error (rerun with --debug for the traceback), 130 interrupted (--out is left as it was).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from .cli import ArgumentParser, run_cli
from .io.folder import MODEL_STAGING_MARK, check_model_target, check_replaceable, model_folder_problem, staged_folder

DEMO_STORY = "story.json"
_DEMO_FILE = re.compile(r"page-\d{2,}\.png")


def _demo_folder_problem(folder: Path) -> str | None:
    """A demo folder (story.json, page-NN.png, model/) may be replaced by a new demo; nothing else."""
    foreign = sorted(p.name for p in folder.iterdir()
                     if not (p.name == DEMO_STORY or _DEMO_FILE.fullmatch(p.name) or
                             (p.name == "model" and p.is_dir() and model_folder_problem(p) is None)))
    return f"{folder} holds files the demo did not write ({', '.join(foreign[:3])})" if foreign else None


def _demo(args: argparse.Namespace) -> Path:
    from tqdm import tqdm

    from .config import MiniGPT5Config
    from .modeling.model import MiniGPT5

    out = Path(args.out)
    how = "choose another --out, or move its files away yourself"
    check_replaceable(out, _demo_folder_problem, how)  # before the model is built; checked again at the end
    model = MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=args.seed)
    with staged_folder(out, _demo_folder_problem, mark=MODEL_STAGING_MARK, how_to_proceed=how) as staging:
        story = model.story(args.prompt, pages=args.pages, seed=args.seed)
        model.save_pretrained(staging / "model")
        record = {"prompt": args.prompt, "seed": args.seed, "model": str(out / "model"), "pages": []}
        vokens = story.vokens  # (pages, 8, H), built once
        for i, text in enumerate(tqdm(story.texts, desc="pages", unit="page", file=sys.stderr)):
            picture = model.render_images(vokens[i:i + 1], seed=args.seed + i)[0]
            name = f"page-{i + 1:02d}.png"
            picture.save(staging / name)
            record["pages"].append({"text": text, "image": name})
        (staging / DEMO_STORY).write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return out / DEMO_STORY


def _save_tiny(args: argparse.Namespace) -> Path:
    from .config import MiniGPT5Config
    from .modeling.model import MiniGPT5

    check_model_target(args.out)  # before the model is built; save_pretrained checks again
    MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=args.seed).save_pretrained(args.out)
    return Path(args.out)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("minigpt5_core", _run, argv)


def _run(argv: Sequence[str]) -> int:
    parser = ArgumentParser(prog="python -m minigpt5_core", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="generate a short interleaved story with the tiny model")
    demo.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    demo.add_argument("--prompt", default="A little fox finds a lantern in the forest.", help="opening line")
    demo.add_argument("--pages", type=int, default=3, help="number of pages (default: 3)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    tiny = sub.add_parser("save-tiny", help="write a tiny random model folder")
    tiny.add_argument("--out", required=True, help="folder to write")
    tiny.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"wrote {_demo(args) if args.command == 'demo' else _save_tiny(args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
