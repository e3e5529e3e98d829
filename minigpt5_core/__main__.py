"""`python -m minigpt5_core`: small jobs with the library alone.

    python -m minigpt5_core demo --out out/demo        tiny random model: prompt -> text + pictures on disk
    python -m minigpt5_core save-tiny --out DIR        write a tiny random model folder (for trying tools)

The tiny model is random (its text is gibberish and its pictures are noise), but every stage of the real
pipeline runs: vision encoder, KV-cached voken decoding, mapper, diffusers sampling. For a model that has
learned something, use the bundled shapes-world model: `python -m storybook make`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import MiniGPT5Config
from .errors import MiniGPT5Error
from .modeling.model import MiniGPT5


def _demo(args: argparse.Namespace) -> Path:
    from tqdm import tqdm

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=args.seed)
    model.save_pretrained(out / "model")
    bar = tqdm(total=args.pages, desc="pages", unit="page", file=sys.stderr)
    story = model.story(args.prompt, pages=args.pages, seed=args.seed)
    record = {"prompt": args.prompt, "seed": args.seed, "model": str(out / "model"), "pages": []}
    for i, text in enumerate(story.texts):
        picture = model.render_images(story.vokens[i:i + 1], seed=args.seed + i)[0]
        name = f"page-{i + 1:02d}.png"
        picture.save(out / name)
        record["pages"].append({"text": text, "image": name})
        bar.update(1)
    bar.close()
    (out / "story.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return out / "story.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minigpt5_core", description=__doc__,
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
    try:
        if args.command == "demo":
            print(f"wrote {_demo(args)}")
        else:
            MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=args.seed).save_pretrained(args.out)
            print(f"wrote {args.out}")
    except MiniGPT5Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
