"""Making a book: a story and its pictures in, a folder with story.json, pictures, index.html and PDF out
(and, when asked, an EPUB and a CBZ beside them).

Every input (a manifest folder, VIST files, a model, a ComfyUI graph) becomes a `StoryInput`: the
manifest as it will be written plus where each picture comes from (a file, or an image in memory), and
the pages' voken features when a model drew them (so that `redraw` can draw a page again).
`write_book` then does the same steps for all of them, in a temporary folder that only becomes OUT when
the book is complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image
from tqdm import tqdm

from storybook import pdf_browser
from storybook.errors import StorybookError
from storybook.features import feature_key, load_features, save_features
from storybook.glyphs import check_glyphs
from storybook.fitting import Fit, fit_findings, fit_text
from storybook.fonts import FACES, FONT_FOLDER, FONT_SOURCE, copy_fonts
from storybook.manifest import MANIFEST_NAME, ModelInfo, Page, Story, check_image_path, load_story, \
    resolve_image, save_story, story_json
from storybook.options import BookOptions
from storybook.exports import write_exports
from storybook.outdir import building
from storybook.pictures import backdrop_path, write_backdrop
from storybook.preflight import Finding, PreflightReport, check_rendered, check_sources
from storybook.preflight_targets import check_fonts, check_target
from storybook.print_files import write_print_files
from storybook.render_html import HTML_NAME, printable, write_html
from storybook.render_pdf import PDF_NAME, PdfUnavailable, layout_pdf, write_pdf

ImageSource = Union[Path, Image.Image]


@dataclass
class StoryInput:
    """A story not yet written out: the manifest, and the source of each `page.image` path."""

    story: Story
    images: dict[str, ImageSource] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)  # by `page.features` name
    fonts: dict[str, Path] = field(default_factory=dict)  # user font files by their name in BookOptions.fonts


@dataclass
class BookResult:
    """Where the finished book is, and what preflight found. `pdf` is None when it could not be made here
    (weasyprint's native libraries are missing: `pdf_skipped` says which, and how to install them)."""

    folder: Path
    manifest: Path
    html: Path
    pdf: Path | None
    report: PreflightReport
    pdf_skipped: str | None = None
    exports: dict[str, Path] = field(default_factory=dict)  # e.g. {"epub": OUT/storybook.epub}


def from_manifest(folder: str | os.PathLike, story: Story | None = None) -> StoryInput:
    """A story folder (story.json + pictures) as input, e.g. one written by the ComfyUI node; `story` is its
    manifest when the caller has loaded it already."""
    folder = Path(folder)
    story = load_story(folder) if story is None else story
    fonts = BookOptions.of_story(story, f"{folder / MANIFEST_NAME}: field 'book'").fonts
    return StoryInput(story, {page.image: resolve_image(folder, page.image) for page in story.pages},
                      load_features(folder, story), {name: folder / FONT_FOLDER / name for name in fonts})


def story_from_pages(texts: Sequence[str], images: Sequence[ImageSource], *, title: str, author: str = "",
                     language: str = "en", seeds: Sequence[int | None] | None = None,
                     prompts: Sequence[str | None] | None = None,
                     provenance: Sequence[dict[str, Any]] | None = None,
                     model: ModelInfo | None = None,
                     features: Sequence[np.ndarray | None] | None = None) -> StoryInput:
    """A story from parallel lists (one entry per page): texts, pictures, and optionally seeds, prompts,
    provenance and voken features (num_vokens x hidden each). Pictures in memory are saved as `page-001.png`,
    ...; files keep their format."""
    count = len(texts)
    for name, values in (("images", images), ("seeds", seeds), ("prompts", prompts), ("provenance", provenance),
                         ("features", features)):
        if values is not None and len(values) != count:
            raise StorybookError(f"{count} page texts but {len(values)} {name}: give one per page")
    pages, sources, stored = [], {}, {}
    for i, (text, image) in enumerate(zip(texts, images)):
        suffix = ".png" if isinstance(image, Image.Image) else Path(image).suffix.lower()
        name = check_image_path(f"page-{i + 1:03d}{suffix}", f"page {i + 1}: picture {image}")
        key = feature_key(i + 1) if features is not None and features[i] is not None else None
        if key:
            stored[key] = np.asarray(features[i], dtype=np.float32)
        pages.append(Page(text=text, image=name, seed=seeds[i] if seeds else None,
                          prompt=prompts[i] if prompts else None,
                          provenance=dict(provenance[i]) if provenance else {}, features=key))
        sources[name] = image if isinstance(image, Image.Image) else Path(image)
    return StoryInput(Story(title=title, pages=pages, author=author, language=language, model=model), sources,
                      stored)


def _copy_picture(source: ImageSource, target: Path) -> None:
    """Put a picture into the book folder unchanged: files byte for byte, images in memory losslessly
    unless the path asks for JPEG (then at quality 95)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, Image.Image):
        if target.suffix.lower() in (".jpg", ".jpeg"):  # e.g. an upscaled photo: keep what the model added
            source = source if source.mode in ("RGB", "L") else source.convert("RGB")
            source.save(target, quality=95)
        else:
            source.save(target)
    else:
        shutil.copyfile(source, target)


def _print_without_weasyprint(folder: Path, options: BookOptions, pages: int,
                              why: str) -> tuple[PreflightReport, str | None]:
    """Where weasyprint cannot load, the same index.html printed by a Chromium-family browser
    (storybook.pdf_browser); returns the report and, if no PDF could be made, the reason."""
    browser = pdf_browser.find_browser()
    rules = options.print_target
    if rules.rules_enforced:
        skipped = (f"{rules.service} needs a TrimBox, bleed on chosen sides and PDF/X-4, which only weasyprint "
                   f"writes (a browser's PDF has none of them): {why}")
    elif browser is None:
        skipped = f"{why}; or install Microsoft Edge, Google Chrome or Chromium, which can print it too"
    else:
        try:
            pdf_browser.print_with_browser(browser, folder / HTML_NAME, folder / PDF_NAME, options.geometry(), pages)
        except pdf_browser.BrowserPrintFailed as e:
            skipped = f"{e}; or: {why}"
        else:
            return PreflightReport(page_count=pages, findings=[Finding(
                "warning", "pdf-browser",
                f"PDF printed by {browser.name}, since weasyprint cannot run here: it has the page size and bleed, "
                f"but {pdf_browser.BROWSER_PDF_LIMITS}; for a print service's PDF: {why}")]), None
    return PreflightReport(findings=[Finding("warning", "pdf-skipped", f"no PDF written: {skipped}")]), skipped


def _user_fonts(source: StoryInput, options: BookOptions) -> dict[str, Path]:
    """The user font files `options.fonts` names, from where `source` has them."""
    fonts = {}
    for name in options.fonts:
        path = source.fonts.get(name)
        if path is None or not Path(path).is_file():
            raise StorybookError(f"font {name!r}, which the book's options name, is not found"
                                 + (f" at {path}" if path is not None else "")
                                 + " (pass it again with --font FILE)")
        fonts[name] = Path(path)
    return fonts


def book_texts(story: Story, options: BookOptions) -> dict[str, str]:
    """Every text the book prints, by where it prints ("cover", "page 3"): what the fonts must cover. Only what
    is printed: the characters `printable` drops (control characters, noncharacters) need no glyph."""
    texts = {"cover": f"{story.title} {story.author}"} if options.cover else {}
    texts.update({f"page {number}": page.text for number, page in enumerate(story.pages, start=1)})
    return {where: printable(text) for where, text in texts.items()}


def write_book(source: StoryInput, out: str | os.PathLike, options: BookOptions = BookOptions(), *,
               progress: bool = False) -> BookResult:
    """Write the book into folder `out`: story.json, the pictures (and features.safetensors when the pages
    have voken features), the fonts, index.html, storybook.pdf and the other `options.formats`.

    Raises StorybookError, with `out` unchanged, if an option is bad, a picture is missing or
    unreadable, or `out` is a folder of other files. Quality risks (low resolution, text that does not
    fit, odd page count) do not stop the book; they are in `result.report`.
    """
    options.validate()
    story = source.story
    story.book = options.to_dict()
    manifest_text = story_json(story)  # validated before any picture is copied
    looks, problems = check_sources(story, source.images)
    if problems:
        raise StorybookError("; ".join(f"{p.where}: {p.message}" for p in problems))
    user_fonts = _user_fonts(source, options)
    check_glyphs(book_texts(story, options), [*(FONT_SOURCE / face.file for face in FACES), *user_fonts.values()])
    out = Path(out)
    names = list(dict.fromkeys(page.image for page in story.pages))
    pixels = {name: look.pixels for name, look in looks.items()}
    features = {page.features: source.features[page.features] for page in story.pages if page.features}
    bar = tqdm(total=len(names) + 3, desc="storybook", unit="step", disable=None if progress else True)
    with bar, building(out) as tmp:
        for name in names:
            bar.set_postfix_str(name)
            _copy_picture(source.images[name], tmp / name)
            write_backdrop(source.images[name], tmp / backdrop_path(name))
            bar.update()
        save_features(features, tmp)
        copy_fonts(tmp, user_fonts)
        save_story(story, tmp, manifest_text)

        rules = options.print_target

        def lay_out(fit: Fit):
            write_html(story, tmp, options, looks, fit, out)
            return layout_pdf(tmp, rules.pdf_variant)

        bar.set_postfix_str(HTML_NAME)
        bar.update()
        fit = Fit()
        try:
            document, fit = fit_text(lay_out, options.layout)
        except PdfUnavailable as e:
            page_count = len(options.sheets(len(story.pages), fit.moved))
            report, skipped = _print_without_weasyprint(tmp, options, page_count, str(e))
        else:
            page_count = len(document.pages)
            skipped = None
            bar.set_postfix_str("layout")
            bar.update()
            sheets = options.sheets(len(story.pages), fit.moved)
            report = check_rendered(document, story, sheets, pixels)
            report.findings.extend(fit_findings(fit, sheets))
            check_target(document, options, sheets, report)
            if report.errors:
                raise StorybookError("; ".join(f"{p.where}: {p.message}" for p in report.errors))
            write_pdf(document, tmp / PDF_NAME, rules.pdf_variant)
            if rules.rules_enforced:
                report.findings.extend(check_fonts(tmp / PDF_NAME, rules.service))
            bar.set_postfix_str(PDF_NAME)
            bar.update()
        written = write_exports(story, tmp, options, looks, None if skipped else tmp / PDF_NAME, report, fit)
        if not skipped:
            written.update(write_print_files(story, tmp, tmp / PDF_NAME, options, page_count, looks, report))
    return BookResult(folder=out, manifest=out / MANIFEST_NAME, html=out / HTML_NAME,
                      pdf=None if skipped else out / PDF_NAME, report=report, pdf_skipped=skipped,
                      exports={kind: out / path.name for kind, path in written.items()})
