"""`python -m storybook make`: a printable storybook from a manifest, a VIST story or a model;
`python -m storybook redraw BOOK --page K`: one page's picture drawn again (storybook.redraw).

Exit codes (`minigpt5_core.cli`): 0 the book was written; 2 bad input (one line on stderr saying what to fix);
1 internal error (one line; `--debug` shows the traceback); 130 interrupted (OUT unchanged). On success the
preflight report is printed, and the last line names the PDF (with `--json`, stdout is one JSON object
whose last key is "pdf"). Progress bars go to stderr, and only when it is a terminal.
"""

from __future__ import annotations

import argparse
import json
import locale
import sys
from collections.abc import Sequence
from pathlib import Path

from minigpt5_core.cli import ArgumentParser, run_cli
from minigpt5_core.errors import MiniGPT5Error
from minigpt5_core.modeling.quantize import QUANTIZE_TIERS

from storybook.book import BookResult, StoryInput, from_manifest, write_book
from storybook.errors import StorybookError
from storybook.fonts import check_user_font
from storybook.generate import DEFAULT_PAGES, DEFAULT_PROMPT, DEFAULT_SEED, check_drawing_options, default_model_dir, \
    generate_story
from storybook.layouts import LAYOUT_HELP, LAYOUTS, PADDING, PADDING_HELP
from storybook.manifest import Story, check_text, load_story
from storybook.options import DEFAULT_LAYOUT, DEFAULT_SIZE, FIT_HELP, FITS, FORMATS_HELP, BookOptions, parse_formats
from storybook.outdir import check_out_folder, editing
from storybook.pagesize import SIZE_HELP
from storybook.targets import HOME_PAPER_HELP, HOME_PAPERS, IMPOSE_HELP, IMPOSITIONS, PAPER_HELP, PAPERS, \
    TARGET_HELP, TARGET_NAMES, locale_paper, target
from storybook.upscale import Upscaler, upscale_pictures
from storybook.vist import from_vist

DEFAULT_OUT = "storybook-out"
# The book was written, but it breaks rules of its print target (preflight lists them as violations).
EXIT_RULES_BROKEN = 3
UPSCALE_HELP = ("enlarge every picture before layout with an upscale model file, e.g. RealESRGAN_x4plus.pth "
                "(ESRGAN, Real-ESRGAN, SwinIR, ... as ComfyUI keeps them in "
                "models/upscale_models/), so pictures print sharp; recorded in story.json. Needs spandrel: "
                "pip install 'minigpt5-storybook[upscale]'")
EXAMPLES = """\
examples:
  python -m storybook make --manifest my-story --out book --size 8.5x8.5in --bleed 0.125in --crop-marks
  python -m storybook make --manifest my-story --out book --size 8.5x8.5in --upscale RealESRGAN_x4plus.pth
  python -m storybook make --vist val.story-in-sequence.json --images val_images --story-id 45530 --out book \\
      --layout photo-story
  python -m storybook make --vist val_cleaned.json --image-map val_image_mapping.json --story-id 40470
  python -m storybook make --model models/minigpt5-toy --prompt "A red circle went for a walk." --pages 6 --seed 1
  python -m storybook make --model models/minigpt5-vist --sd v2-1_512-ema-pruned.safetensors --prompt "A fox."
  python -m storybook make --manifest my-story --out kdp-book --target kdp --size 8.5x8.5in --paper cream
  python -m storybook make --manifest my-story --out booklet --target home --impose booklet --paper-size a4

OUT receives story.json, the pictures, index.html (preview) and storybook.pdf (print). An existing OUT is
replaced only once the new book is complete, and only if it is empty or a storybook folder holding nothing
but its book's files; anything else is never deleted. The last line printed names the PDF.
Exit codes: 0 book written; 2 bad input (one line on stderr); 1 internal error (rerun with --debug for the
traceback); 3 book written but it breaks its --target's rules (preflight lists each as a violation, with its
pages and the fix); 130 interrupted (OUT is left as it was).
"""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; the help texts are the CLI's reference documentation."""
    parser = ArgumentParser(prog="python -m storybook", description="Printable illustrated storybooks (HTML + PDF).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    make = commands.add_parser(
        "make", help="make a storybook (story.json, pictures, index.html, storybook.pdf)",
        description="Make a storybook from a story folder, a VIST story, or a MiniGPT-5 model. "
                    "With no input option, the bundled default model writes a story.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)

    source = make.add_argument_group("input (give one)")
    source.add_argument("--manifest", metavar="DIR", help="a story folder: story.json and its pictures")
    source.add_argument("--vist", metavar="FILE",
                        help="a VIST story-in-sequence JSON (with --images), or MiniGPT-5's cleaned VIST JSON "
                             "(with --image-map)")
    source.add_argument("--model", metavar="MODEL_DIR", help="a MiniGPT-5 model folder: generate a new story")

    vist = make.add_argument_group("VIST options")
    vist.add_argument("--images", metavar="DIR",
                      help="photo folder: files named <photo id>.jpg/.png (also one folder below); for the cleaned "
                           "form, the folder the image map's paths are relative to")
    vist.add_argument("--image-map", metavar="FILE",
                      help="cleaned form only: JSON {image_id: path}; paths relative to this file's folder")
    vist.add_argument("--story-id", metavar="ID", help="which story of the file (needed when it holds several)")

    gen = make.add_argument_group("generation options (with --model, or with no input)")
    gen.add_argument("--sd", metavar="PATH",
                     help="Stable Diffusion 2.1-base to draw with, when the model folder has no sd/ (or to replace "
                          "it): a local diffusers folder, or one checkpoint file such as "
                          "v2-1_512-ema-pruned.safetensors (the file ComfyUI uses). Nothing is downloaded.")
    gen.add_argument("--prompt", metavar="TEXT", help=f"opening line of the story (default: {DEFAULT_PROMPT!r})")
    gen.add_argument("--pages", type=int, metavar="N", help=f"number of story pages (default: {DEFAULT_PAGES})")
    gen.add_argument("--seed", type=int, metavar="S",
                     help=f"random seed; page i's picture uses S+i, so a book is reproducible (default: {DEFAULT_SEED})")
    gen.add_argument("--steps", type=int, metavar="N", help="diffusion steps per picture (default: the model's)")
    gen.add_argument("--guidance", type=float, metavar="G", help="classifier-free guidance scale (default: the model's)")
    gen.add_argument("--image-size", type=int, metavar="PX", help="picture width and height in pixels "
                                                                  "(default: the model's)")
    gen.add_argument("--consistency", type=float, metavar="R",
                     help="draw the pages together so the same characters look alike on every page "
                          "(StoryDiffusion's consistent self-attention; R = share of the other pages' tokens each "
                          "page sees, 0..1, 0.5 is the authors' default; costs attention time and memory growing "
                          "with 1 + R x (pages - 1); default: 0, off, each page drawn on its own)")
    gen.add_argument("--quantize", choices=QUANTIZE_TIERS,
                     help="load the language model in 8 (int8) or 4 (nf4) bits, from the same model folder, so the "
                          "7B model fits a smaller GPU (GPU memory per tier: docs/models.md, 'Memory tiers'; needs "
                          "the bitsandbytes package; default: none)")

    book = make.add_argument_group(
        "book", "With --manifest, a book folder's own options (story.json's \"book\") are the defaults: a book "
                "re-rendered after editing its text keeps its size, layout, bleed, padding, formats, and its "
                "cover, page numbers and crop marks unless changed here.")
    book.add_argument("--out", metavar="OUT", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    book.add_argument("--size", help=f"trimmed page size: {SIZE_HELP} (default: {DEFAULT_SIZE})")
    book.add_argument("--layout", choices=LAYOUTS, metavar="LAYOUT",
                      help=f"{LAYOUT_HELP} (default: {DEFAULT_LAYOUT})")
    book.add_argument("--bleed", metavar="LENGTH",
                      help="extra picture area beyond the trim for the printer's cutter, e.g. 3mm or 0.125in "
                           "(default: 0)")
    book.add_argument("--crop-marks", action="store_true", help="draw crop marks in the bleed (needs --bleed)")
    book.add_argument("--no-cover", action="store_true", help="leave out the cover page")
    book.add_argument("--no-page-numbers", action="store_true", help="leave out page numbers")
    book.add_argument("--title", help="title to print (default: the story's)")
    book.add_argument("--author", help="author to print (default: the story's)")
    book.add_argument("--json", action="store_true",
                      help="print the preflight report and output paths as one JSON object")
    book.add_argument("--formats", metavar="LIST",
                      help=f"comma-separated files to write besides index.html: {FORMATS_HELP} (default: pdf; "
                           "the PDF is always written)")
    book.add_argument("--fit", choices=FITS, help=f"{FIT_HELP} (default: contain)")
    book.add_argument("--font", action="append", default=[], metavar="FILE",
                      help="a TrueType/OpenType font for characters the bundled Andika lacks (a script no font on "
                           "this machine has): copied into the book, embedded (subset) in the PDF and EPUB, used "
                           "after Andika; repeat for several fonts")
    book.add_argument("--booklet-pad", choices=PADDING, metavar="HOW", help=f"{PADDING_HELP} "
                      "(default: none)")
    book.add_argument("--upscale", metavar="MODEL_FILE", help=UPSCALE_HELP)
    _add_print_target(make)
    _add_redraw(commands)
    return parser


def _add_print_target(make) -> None:
    printing = make.add_argument_group(
        "print target", "A print service's rules (docs/printing.md): page geometry, bleed, safe zone, minimum page "
                        "count and PDF variant; preflight then enforces them (exit 3 on a broken rule).")
    printing.add_argument("--target", choices=TARGET_NAMES, metavar="TARGET", help=f"{TARGET_HELP}")
    printing.add_argument("--paper", choices=PAPERS, metavar="PAPER", help=f"{PAPER_HELP} (default: white)")
    printing.add_argument("--blurb", metavar="TEXT", help="text for the back of the cover wrap (--target kdp)")
    printing.add_argument("--paper-size", choices=tuple(HOME_PAPERS), metavar="PAPER", help=HOME_PAPER_HELP)
    printing.add_argument("--impose", choices=IMPOSITIONS, metavar="HOW", help=f"{IMPOSE_HELP} (default: none)")


def _add_redraw(commands) -> None:
    redraw = commands.add_parser(
        "redraw", help="draw some pages' pictures again (new seed), keeping the rest of the book",
        description="Redraw the pictures of some pages of a book made with a model (make --model, or ComfyUI's "
                    "SaveStorybook given the story's interleaved output), from the voken features the book keeps: "
                    "no LLM run. The other pages stay byte-identical; the new seeds are recorded in story.json; "
                    "index.html, the PDF and the book's other formats are rewritten, and BOOK is replaced only "
                    "when the new book is complete.",
        epilog="example:\n  python -m storybook redraw storybook-out --page 3 --seed 42\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    redraw.add_argument("book", metavar="BOOK", help="the book folder (story.json, features.safetensors, ...)")
    redraw.add_argument("--page", type=int, action="append", default=[], required=True, metavar="K",
                        help="page to redraw (1 = the first story page); repeat for several pages")
    redraw.add_argument("--seed", type=int, metavar="S",
                        help="new seed of the first page redrawn (the next gets S+1, ...; default: a random seed, "
                             "recorded in story.json)")
    redraw.add_argument("--steps", type=int, metavar="N", help="diffusion steps (default: as the book was drawn)")
    redraw.add_argument("--guidance", type=float, metavar="G",
                        help="classifier-free guidance scale (default: as the book was drawn)")
    redraw.add_argument("--model", metavar="MODEL_DIR",
                        help="the model folder the book was drawn with (default: the bundled model); another "
                             "model is refused")
    redraw.add_argument("--sd", metavar="PATH", help="Stable Diffusion 2.1-base to draw with, as for make --sd")
    redraw.add_argument("--upscale", metavar="MODEL_FILE",
                        help="the upscale model the book's pictures were enlarged with (make --upscale): needed, "
                             "and checked, when story.json records one")
    redraw.add_argument("--json", action="store_true",
                        help="print the preflight report and output paths as one JSON object")


def _check_combination(args: argparse.Namespace) -> None:
    inputs = [name for name in ("manifest", "vist", "model") if getattr(args, name) is not None]
    if len(inputs) > 1:
        raise StorybookError(f"give one input, not {' and '.join('--' + n for n in inputs)}")
    if args.vist is None:
        for name in ("images", "image_map", "story_id"):
            if getattr(args, name) is not None:
                raise StorybookError(f"--{name.replace('_', '-')} goes with --vist")
    if args.manifest is not None or args.vist is not None:
        for name in ("prompt", "pages", "seed", "steps", "guidance", "image_size", "sd", "quantize", "consistency"):
            if getattr(args, name) is not None:
                raise StorybookError(f"--{name.replace('_', '-')} is for generating a story (--model)")


def _check_generation_numbers(args: argparse.Namespace) -> None:
    """Seeds, steps, guidance and picture size, checked before the model is loaded: page i is drawn with
    seed + i, so a seed that overflows on the last page is reported before any text is written."""
    from minigpt5_core.modeling.generation import check_seeds

    pages = DEFAULT_PAGES if args.pages is None else args.pages
    if pages < 1:
        raise StorybookError(f"--pages must be at least 1, got {pages}")
    check_seeds(DEFAULT_SEED if args.seed is None else args.seed, pages, "--seed")
    if args.consistency is not None:
        from minigpt5_core import ConsistencySettings

        ConsistencySettings(ratio=args.consistency).validate()
    check_drawing_options(args.steps, args.guidance, args.image_size)


def _source(args: argparse.Namespace, manifest: Story | None) -> StoryInput:
    if manifest is not None:
        return from_manifest(args.manifest, manifest)
    if args.vist is not None:
        return from_vist(args.vist, images=args.images, image_map=args.image_map, story_id=args.story_id)
    model = args.model if args.model is not None else default_model_dir()
    if model is None:
        raise StorybookError("no input given, and this install lacks the bundled model: pass --manifest DIR, "
                             "--vist FILE --images DIR, or --model MODEL_DIR --prompt TEXT "
                             "(see 'python -m storybook make --help')")
    return generate_story(model, args.prompt if args.prompt is not None else DEFAULT_PROMPT,
                          pages=args.pages if args.pages is not None else DEFAULT_PAGES,
                          seed=args.seed if args.seed is not None else DEFAULT_SEED,
                          steps=args.steps, guidance=args.guidance, image_size=args.image_size, progress=True,
                          sd=args.sd, quantize=args.quantize or "none", consistency=args.consistency or 0.0)


def _print_result(result: BookResult, as_json: bool) -> None:
    if as_json:
        summary = {**result.report.to_dict(), "folder": str(result.folder), "manifest": str(result.manifest),
                   "html": str(result.html), "exports": {kind: str(path) for kind, path in result.exports.items()},
                   "pdf": None if result.pdf is None else str(result.pdf)}
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(result.report.format())
        print(f"HTML preview: {result.html}")
        for kind, path in result.exports.items():
            print(f"{kind.upper()}: {path}")
        print(f"PDF: {result.pdf}" if result.pdf else "PDF: skipped (see the warning above)")
    if result.pdf_skipped:
        print(f"storybook: warning: no PDF written: {result.pdf_skipped}", file=sys.stderr)


def _book_options(args: argparse.Namespace, manifest: Story | None) -> BookOptions:
    """The options given, and for the others the manifest's own (`--manifest` of a book) or the defaults."""
    base = BookOptions()
    if manifest is not None:
        base = BookOptions.of_story(manifest, f"{Path(args.manifest) / 'story.json'}: field 'book'")
    chosen = _print_options(args, base)
    options = BookOptions(
        size=chosen.pop("size", None) or args.size or base.size, layout=args.layout or base.layout,
        bleed=chosen.pop("bleed", None) or args.bleed or base.bleed,
        crop_marks=chosen.pop("crop_marks", args.crop_marks or base.crop_marks), cover=base.cover and not args.no_cover,
        page_numbers=base.page_numbers and not args.no_page_numbers, padding=args.booklet_pad or base.padding,
        formats=parse_formats(args.formats) if args.formats is not None else base.formats, fit=args.fit or base.fit,
        fonts=tuple(dict.fromkeys((*base.fonts, *(check_user_font(Path(path)) for path in args.font)))), **chosen)
    options.validate()
    return options


def _print_options(args: argparse.Namespace, base: BookOptions) -> dict:
    """The print target's options; a target that sets the bleed, or refuses crop marks, drops the ones the
    book had before (they were for another target), and a home book is as large as the printer's paper (half
    of it for a booklet) unless --size says otherwise."""
    name = args.target or base.target
    rules = target(name)
    for flag, needs in (("paper", "kdp"), ("blurb", "kdp"), ("paper_size", "home"), ("impose", "home")):
        if getattr(args, flag) is not None and name != needs:
            raise StorybookError(f"--{flag.replace('_', '-')} is for --target {needs}")
    chosen: dict = {"target": name, "paper": args.paper or base.paper,
                    "blurb": args.blurb or (base.blurb if name == "kdp" else "")}
    if rules.bleed_in is not None and args.bleed is None:
        chosen["bleed"] = "0"
    if not rules.marks_allowed and not args.crop_marks:
        chosen["crop_marks"] = False
    if name == "home":
        kept = base.target == "home"
        paper = args.paper_size or (base.paper_size if kept else locale_paper(_territory()))
        impose = args.impose or base.impose
        chosen.update(paper_size=paper, impose=impose)
        if args.size is None and not (kept and (paper, impose) == (base.paper_size, base.impose)):
            chosen["size"] = HOME_PAPERS[paper][1 if impose == "booklet" else 0]
    return chosen


def _territory() -> str | None:
    """The country part of the user's locale ("en_US" -> "US"), which decides A4 or Letter."""
    name = locale.getlocale()[0] or ""
    return name.split("_")[1][:2] if "_" in name else None


def make(args: argparse.Namespace) -> int | None:
    """Run `make`: check the options first (generation is slow), then read or generate, then write; OUT is
    held for this run throughout, so a redraw of it meanwhile is refused rather than lost."""
    _check_combination(args)
    with editing(args.out):
        return _make(args)


def _make(args: argparse.Namespace) -> int | None:
    manifest = load_story(args.manifest) if args.manifest is not None else None
    options = _book_options(args, manifest)
    for flag in ("title", "author", "prompt", "blurb"):
        if getattr(args, flag) is not None:
            check_text(getattr(args, flag), f"--{flag}")
    check_out_folder(Path(args.out))
    if args.manifest is None and args.vist is None:
        _check_generation_numbers(args)
    upscaler = Upscaler.load(args.upscale) if args.upscale is not None else None  # a bad file fails fast
    source = _source(args, manifest)
    source.fonts.update({Path(path).name: Path(path) for path in args.font})
    if args.title is not None:
        source.story.title = args.title
    if args.author is not None:
        source.story.author = args.author
    if upscaler is not None:
        upscale_pictures(source, upscaler, progress=True)
    result = write_book(source, args.out, options, progress=True)
    _print_result(result, args.json)
    return _rules_exit(result, options)


def _rules_exit(result: BookResult, options: BookOptions) -> int | None:
    """EXIT_RULES_BROKEN, with one line saying so, when the book breaks its print target's rules."""
    broken = result.report.violations
    if not broken:
        return None
    print(f"storybook: error: the book breaks {len(broken)} of {options.print_target.service}'s rules (the "
          f"violations above, each with its fix); it was written to {result.folder}, but fix them before "
          "uploading it", file=sys.stderr)
    return EXIT_RULES_BROKEN


def redraw(args: argparse.Namespace) -> int | None:
    """Run `redraw`: the pages' pictures again from their voken features, then the whole book rewritten."""
    from storybook.redraw import redraw_book

    result = redraw_book(args.book, args.page, seed=args.seed, steps=args.steps, guidance=args.guidance,
                         model_dir=args.model, sd=args.sd, upscale=args.upscale, progress=True)
    _print_result(result, args.json)
    return _rules_exit(result, BookOptions.of_story(load_story(result.folder), str(result.manifest)))


def run(args: argparse.Namespace) -> int | None:
    """Run the command the arguments name; returns its exit code (None: success)."""
    return (redraw if args.command == "redraw" else make)(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (module docstring)."""
    return run_cli("storybook", lambda args: run(build_parser().parse_args(args)), argv,
                   user_errors=(StorybookError, MiniGPT5Error))
