"""SaveStorybook: page pictures + page texts -> story.json, index.html and a print PDF in ComfyUI's output."""

from __future__ import annotations

import os
import re
from contextlib import suppress
from pathlib import Path

from storybook import BookOptions, ModelInfo, StorybookError, story_from_pages, write_book
from storybook.filehash import folder_sha256
from storybook.fonts import USER_FONT_SUFFIXES, check_user_font
from storybook.layouts import LAYOUTS
from storybook.options import DEFAULT_LAYOUT, DEFAULT_SIZE, FITS
from storybook.pagesize import COMMON_SIZES

from .comfy_types import images_to_pil, models_subfolder
from .loader import find_model
from .pages import split_pages

PREVIEW_PAGES = 4
SAMPLERS = ("KSampler", "KSamplerAdvanced")
FONT_FOLDER_KEY = "fonts"  # <models_dir>/fonts: TrueType/OpenType files the font input offers
NO_FONT = "none"


def list_fonts() -> list[str]:
    """The font input's choices: none, then every font file of the fonts folders."""
    import folder_paths

    models_subfolder(FONT_FOLDER_KEY)
    names = folder_paths.get_filename_list(FONT_FOLDER_KEY)
    return [NO_FONT, *sorted(n for n in names if os.path.splitext(n)[1].lower() in USER_FONT_SUFFIXES)]


def chosen_font(name: str | None) -> Path | None:
    """The file of the font input's choice; StorybookError naming the folder when it is not there (any more)."""
    if not name or name == NO_FONT:
        return None
    import folder_paths

    folders = models_subfolder(FONT_FOLDER_KEY)
    path = folder_paths.get_full_path(FONT_FOLDER_KEY, name)
    if path is None:
        folders = ", ".join(folders)
        raise StorybookError(f"font {name!r} is not in ComfyUI's fonts folder ({folders}); put the .ttf/.otf file "
                             "there and refresh, or choose 'none'")
    return Path(path)


def _book_folder(filename_prefix: str) -> tuple[Path, str]:
    """A new, empty folder ``<output>/<prefix>_00001`` (next free number, any number of digits); returns it and
    its subfolder for the UI. Creating it is the claim: of two runs at once, each gets its own number."""
    import folder_paths

    output_dir = folder_paths.get_output_directory()
    # Raises if the prefix leads outside the output folder.
    full_folder, name, _counter, subfolder, _prefix = folder_paths.get_save_image_path(filename_prefix, output_dir)
    pattern = re.compile(rf"^{re.escape(name)}_(\d{{5,}})$")
    taken = [int(m.group(1)) for e in (os.listdir(full_folder) if os.path.isdir(full_folder) else [])
             if (m := pattern.match(e))]
    number = max(taken, default=0) + 1
    while True:
        folder_name = f"{name}_{number:05d}"
        try:
            (Path(full_folder) / folder_name).mkdir(parents=True)
            return Path(full_folder) / folder_name, "/".join(p for p in (subfolder, folder_name) if p)
        except FileExistsError:
            number += 1


def provenance_from_graph(prompt: dict | None) -> tuple[object | None, int | None, str | None]:
    """Best effort: model names and sampler settings from the executed graph, for the manifest."""
    if not isinstance(prompt, dict):
        return None, None, None

    def literal(node, key):
        value = node.get("inputs", {}).get(key)
        return None if isinstance(value, list) else value  # a list is a link to another node

    names, sampler, seed, opening = [], None, None, None
    for node in prompt.values():
        kind = node.get("class_type")
        if kind == "LoadMiniGPT5" and literal(node, "model_name"):
            names.append(str(literal(node, "model_name")))
        elif kind == "CheckpointLoaderSimple" and literal(node, "ckpt_name"):
            names.append(str(literal(node, "ckpt_name")))
        elif kind in SAMPLERS and sampler is None:
            sampler = node
        elif kind == "MiniGPT5Story" and opening is None:
            opening = literal(node, "opening")
    if not names and sampler is None:
        return None, None, opening
    info = ModelInfo(name=" + ".join(names) or "unknown")
    if sampler is not None:
        seed = literal(sampler, "seed") if sampler["class_type"] == "KSampler" else literal(sampler, "noise_seed")
        name, scheduler = literal(sampler, "sampler_name"), literal(sampler, "scheduler")
        info.sampler = " ".join(str(x) for x in (name, scheduler) if x) or None
        steps, cfg = literal(sampler, "steps"), literal(sampler, "cfg")
        info.steps = int(steps) if isinstance(steps, (int, float)) else None
        info.guidance = float(cfg) if isinstance(cfg, (int, float)) else None
    return info, (int(seed) if isinstance(seed, (int, float)) else None), opening


def model_fingerprint(prompt: dict | None) -> str | None:
    """The hash of the MiniGPT-5 model folder the graph loaded (as `make --model` records it), so that
    `python -m storybook redraw` can refuse another model; None unless exactly one model is loaded."""
    if not isinstance(prompt, dict):
        return None
    names = {node.get("inputs", {}).get("model_name") for node in prompt.values()
             if node.get("class_type") == "LoadMiniGPT5"}
    if len(names) != 1 or not isinstance(next(iter(names)), str):
        return None
    return folder_sha256(find_model(next(iter(names))))


def upscale_from_graph(prompt: dict | None, node_id: str | None):
    """The upscale model that enlarged this node's images (Load Upscale Model -> Upscale Image (using Model) ->
    our `images`), recorded as `make --upscale` records it, so that `python -m storybook redraw` enlarges a
    redrawn page the same way; None for pictures that did not come straight from an upscaler."""
    if not isinstance(prompt, dict) or not isinstance(prompt.get(node_id), dict):
        return None

    def source(node: dict, name: str, kind: str) -> dict | None:
        link = node.get("inputs", {}).get(name)
        found = prompt.get(str(link[0])) if isinstance(link, list) and link else None
        return found if isinstance(found, dict) and found.get("class_type") == kind else None

    upscale = source(prompt[node_id], "images", "ImageUpscaleWithModel")
    loader = upscale and source(upscale, "upscale_model", "UpscaleModelLoader")
    name = loader and loader.get("inputs", {}).get("model_name")
    if not isinstance(name, str):
        return None
    import folder_paths

    path = folder_paths.get_full_path("upscale_models", name)
    from storybook.upscale import describe

    return describe(path) if path else None


def page_features(interleaved, page_count: int) -> list | None:
    """Page i's voken features: the i-th picture of the story's INTERLEAVED (MiniGPT-5 Story gives one per
    page, in page order), as float32 arrays for features.safetensors; None without an INTERLEAVED."""
    if interleaved is None:
        return None
    vokens = interleaved.vokens
    if vokens.dim() != 3 or vokens.shape[0] < page_count:
        raise StorybookError(
            f"the interleaved input has {vokens.shape[0] if vokens.dim() == 3 else 0} pictures for {page_count} "
            "pages: connect MiniGPT-5 Story's INTERLEAVED output of the same story")
    return [vokens[i].float().cpu().numpy() for i in range(page_count)]


def save_storybook(images, pages: str, title: str, filename_prefix: str = "storybook/story",
                   size: str = DEFAULT_SIZE, layout: str = DEFAULT_LAYOUT, author: str = "", prompt: dict | None = None,
                   interleaved=None, node_id: str | None = None, fit: str = "contain", font: str = NO_FONT) -> dict:
    """Write the book; returns ComfyUI's output-node dict (page previews in the UI, the folder as result).

    With `interleaved` (the story's INTERLEAVED), each page's voken features and the model's fingerprint are
    kept in the book, so `python -m storybook redraw` can draw a page again from the command line. `fit` and
    `font` are `make --fit` and `make --font` (a file of ComfyUI's fonts folder, embedded in the book)."""
    pictures = images_to_pil(images)
    texts = split_pages(pages)
    if len(texts) > len(pictures):
        raise StorybookError(
            f"{len(texts)} page texts but only {len(pictures)} images: give the latent image the same batch size "
            "as the number of pages")
    texts += [""] * (len(pictures) - len(texts))
    if not title or not title.strip():
        raise StorybookError("the storybook needs a title")
    model, seed, opening = provenance_from_graph(prompt)
    features = page_features(interleaved, len(pictures))
    if features is not None and model is not None:
        model.checkpoint_hash = model_fingerprint(prompt)
        width, height = pictures[0].size
        model.image_size = width if width == height else None
    provenance = [{"source": "ComfyUI", "batch_index": i} for i in range(len(pictures))]
    source = story_from_pages(texts, pictures, title=title.strip(), author=(author or "").strip(),
                              seeds=[seed] * len(pictures), prompts=[opening] * len(pictures),
                              provenance=provenance, model=model, features=features)
    source.story.upscale = upscale_from_graph(prompt, node_id)
    font_file = chosen_font(font)
    if font_file is not None:
        source.fonts[check_user_font(font_file)] = font_file
    options = BookOptions(size=size, layout=layout, fit=fit, fonts=tuple(source.fonts))
    folder, subfolder = _book_folder(filename_prefix)
    try:
        result = write_book(source, folder, options)
    except BaseException:
        with suppress(OSError):  # rmdir removes only the empty folder this run claimed, never a written file
            folder.rmdir()
        raise
    previews = [{"filename": page.image, "subfolder": subfolder, "type": "output"}
                for page in source.story.pages[:PREVIEW_PAGES]]
    # The PDF's path, then preflight warnings (e.g. pictures too small for sharp print at this page size).
    # Without Pango (weasyprint's native library) the book is written without its PDF; the warning says why.
    text = ([str(result.pdf)] if result.pdf else []) + [f"{w.where}: {w.message}" for w in result.report.warnings]
    return {"ui": {"images": previews, "text": text}, "result": (str(result.folder),)}


class SaveStorybook:
    DESCRIPTION = ("Saves a printable storybook into ComfyUI's output folder: one folder per book with the page "
                   "pictures, story.json (the manifest), index.html (preview) and storybook.pdf (print). Page i "
                   "gets picture i of the batch and line i of the page texts. Shows the first pages here.")
    SEARCH_ALIASES = ["storybook", "picture book", "save pdf", "print book", "save story"]
    CATEGORY = "MiniGPT-5"
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("folder",)
    OUTPUT_TOOLTIPS = ("Full path of the book folder that was written.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The page pictures, in page order (e.g. VAE Decode of the "
                                                "story's batch). Upscale them first for sharp prints."}),
                "pages": ("STRING", {"multiline": True, "default": "",
                                     "tooltip": "Page texts, one page per line (MiniGPT-5 Story's 'pages' output, "
                                                "or type your own). Line i goes with picture i."}),
                "title": ("STRING", {"default": "My MiniGPT-5 Story", "tooltip": "Title on the cover."}),
                "filename_prefix": ("STRING", {"default": "storybook/story",
                                               "tooltip": "Where in the output folder; each run writes a new "
                                                          "folder <prefix>_00001, _00002, ..."}),
                "size": (list(COMMON_SIZES), {"default": DEFAULT_SIZE, "tooltip": "Printed page size."}),
                "layout": (list(LAYOUTS), {"default": DEFAULT_LAYOUT,
                                           "tooltip": "Page layout: picture book (picture to the page edges, text "
                                                      "band or facing page), picture above text, full-bleed "
                                                      "picture with a text band, two-page spread, or photo story."}),
            },
            "optional": {
                "author": ("STRING", {"default": "", "tooltip": "Author line on the cover (optional)."}),
                "interleaved": ("INTERLEAVED", {"tooltip": "MiniGPT-5 Story's INTERLEAVED output (optional): keeps "
                                                           "each page's voken features in the book, so a page can "
                                                           "be redrawn later with 'python -m storybook redraw'."}),
                "fit": (list(FITS), {"default": "contain",
                                     "tooltip": "A picture whose shape differs from its frame: show all of it "
                                                "(contain, the space beside it filled from its own edges) or fill "
                                                "the frame and crop (cover)."}),
                "font": (list_fonts(), {"default": NO_FONT,
                                        "tooltip": "A TrueType/OpenType font for characters the bundled Andika lacks "
                                                   "(Chinese, Japanese, Korean, Thai, emoji, ...) when no font of "
                                                   "this machine has them: put the file in ComfyUI's models/fonts "
                                                   "folder. It is embedded in the book."}),
            },
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"},
        }

    def save(self, images, pages, title, filename_prefix, size, layout, author="", interleaved=None,
             fit="contain", font=NO_FONT, prompt=None, unique_id=None):
        return save_storybook(images, pages, title, filename_prefix, size, layout, author, prompt, interleaved,
                              unique_id, fit, font)
