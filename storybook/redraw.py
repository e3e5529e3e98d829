"""`python -m storybook redraw BOOK --page K`: draw one page's picture again, without the LLM.

A book made with a model keeps each page's voken features (features.safetensors), the model's fingerprint
and the sampler settings; with those, a picture is `MiniGPT5.render_images(features, seed=...)` again, drawn
through the same call as `make` (`storybook.generate.draw`), so the original seed gives back the original
picture and another seed gives a new one in seconds. Only the pictures of the pages asked for change: the
others are copied byte for byte, and the whole book (story.json, HTML, PDF, exports) is rewritten in a
temporary folder that replaces BOOK only when complete. A book drawn with consistency (all pages in one batch,
sharing their looks) is drawn again as that batch, the redrawn pages with their new seeds beside the others'
recorded ones; only the redrawn pages' pictures are kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

from storybook.book import BookResult, from_manifest, write_book
from storybook.errors import StorybookError
from storybook.generate import (check_drawing_options, checkpoint_hash, default_model_dir, draw, draw_together,
                                load_model, sampler_settings)
from storybook.manifest import MANIFEST_NAME, Story, now_iso
from storybook.options import BookOptions
from storybook.outdir import editing
from storybook.upscale import Upscaler, check_same_upscaler


def _short(fingerprint: str | None) -> str:
    return "unknown" if fingerprint is None else fingerprint[:19] + "..."


def check_redrawable(story: Story, folder: Path, pages: Sequence[int]) -> None:
    """Raise StorybookError naming the reason if any of `pages` (1-based) cannot be redrawn."""
    if not pages:
        raise StorybookError("say which page to redraw: --page K (several --page options are allowed)")
    for number in pages:
        if not 1 <= number <= len(story.pages):
            raise StorybookError(f"--page {number}: {folder} has pages 1 to {len(story.pages)}")
        if not story.pages[number - 1].features:
            raise StorybookError(f"page {number} of {folder} carries no voken features, so its picture cannot be "
                                 "redrawn; only books made with 'make --model' (or ComfyUI's SaveStorybook given "
                                 "the story's interleaved output) keep them")
    if story.model is None or story.model.checkpoint_hash is None:
        raise StorybookError(f"{folder / MANIFEST_NAME} does not record which model drew the book "
                             "(model.checkpoint_hash), so a redraw could not match the other pages")


def check_same_model(story: Story, folder: Path, model_dir: Path) -> None:
    """Refuse a model other than the one that drew the book: its pictures would not belong to the story."""
    fingerprint = checkpoint_hash(model_dir)
    if fingerprint != story.model.checkpoint_hash:
        raise StorybookError(
            f"{folder} was drawn with model {story.model.name!r} ({_short(story.model.checkpoint_hash)}), but "
            f"{model_dir} is a different model ({_short(fingerprint)}); pass --model with the folder the book "
            "was drawn with")


def _redraw_together(source, folder: Path, new_seeds: dict[int, int], model, settings, consistency: float):
    """Every page's picture of a book drawn with consistency, in one batch again: the redrawn pages with their
    new seeds beside the others' recorded seeds, so they share the others' looks (the others' new pictures
    are dropped: their files stay byte for byte)."""
    import torch

    story = source.story
    missing = [i + 1 for i, page in enumerate(story.pages) if not page.features or page.seed is None]
    if missing:
        raise StorybookError(f"{folder} was drawn with consistency {consistency:g} (all pages together), but page "
                             f"{missing[0]} has no recorded voken features or seed, so the batch cannot be drawn "
                             "again; redraw needs every page's features and seed")
    vokens = torch.stack([torch.from_numpy(source.features[page.features]) for page in story.pages])
    seeds = [new_seeds.get(i + 1, page.seed) for i, page in enumerate(story.pages)]
    return draw_together(model, vokens, seeds, settings, consistency)


def redraw_book(book: str | Path, pages: Sequence[int], *, seed: int | None = None, steps: int | None = None,
                guidance: float | None = None, model_dir: str | Path | None = None, sd: str | Path | None = None,
                upscale: str | Path | None = None, progress: bool = False) -> BookResult:
    """Redraw `pages` (1-based) of the book folder `book` in place; returns the rewritten book.

    `seed`: the first page's new seed (the next page gets seed + 1, ...); without it each page gets a fresh
    random seed. Either way the seed is recorded, so the new picture can be drawn again. Steps and guidance
    default to the ones the book was drawn with. `upscale`: the model file the book's pictures were
    enlarged with (story.json's "upscale"), needed when it records one: the new picture is enlarged the same way.
    Another run writing the same book meanwhile is refused.
    """
    folder = Path(book)
    check_drawing_options(steps, guidance, None)
    if seed is not None:
        from minigpt5_core.modeling.generation import check_seeds

        check_seeds(seed, len(set(pages)), "--seed")
    with editing(folder):
        return _redraw(folder, pages, seed, steps, guidance, model_dir, sd, upscale, progress)


def _redraw(folder: Path, pages: Sequence[int], seed: int | None, steps: int | None, guidance: float | None,
            model_dir: str | Path | None, sd: str | Path | None, upscale: str | Path | None,
            progress: bool) -> BookResult:
    from minigpt5_core.errors import MiniGPT5Error

    source = from_manifest(folder)
    story = source.story
    pages = list(dict.fromkeys(pages))
    check_redrawable(story, folder, pages)
    if model_dir is None:
        model_dir = default_model_dir()
        if model_dir is None:
            raise StorybookError("no --model given and no default model is bundled: pass --model MODEL_DIR")
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise StorybookError(f"--model {model_dir} is not a folder; give the MiniGPT-5 model folder the book was "
                             "drawn with")
    check_same_model(story, folder, model_dir)
    upscaler = Upscaler.load(upscale) if upscale is not None else None
    check_same_upscaler(story.upscale, upscaler, str(folder))
    options = BookOptions.of_story(story, f"{folder / MANIFEST_NAME}: field 'book'")
    import torch

    try:
        model = load_model(model_dir, sd)
        settings = sampler_settings(model, story.model.steps if steps is None else steps,
                                    story.model.guidance if guidance is None else guidance, story.model.image_size)
        new_seeds = {number: seed + offset if seed is not None else secrets.randbelow(2**31)
                     for offset, number in enumerate(pages)}
        if story.model.consistency:
            pictures = _redraw_together(source, folder, new_seeds, model, settings, story.model.consistency)
        for number, new_seed in new_seeds.items():
            page = story.pages[number - 1]
            if story.model.consistency:
                picture = pictures[number - 1]
            else:
                vokens = torch.from_numpy(source.features[page.features]).unsqueeze(0)
                picture = draw(model, vokens, new_seed, settings)
            source.images[page.image] = picture if upscaler is None else upscaler.upscale(picture)
            page.provenance.setdefault("redraws", []).append(
                {"seed": new_seed, "previous_seed": page.seed, "steps": settings.steps,
                 "guidance": settings.guidance, "image_size": settings.image_size, "at": now_iso()})
            page.seed = new_seed
    except MiniGPT5Error as e:
        raise StorybookError(str(e)) from e
    return write_book(source, folder, options, progress=progress)
