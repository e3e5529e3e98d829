"""The book as an EPUB 3 fixed-layout e-book (`--formats epub`), written with ebooklib.

Fixed layout (rendition:layout pre-paginated) because a picture book is pages, not a reflowing text:
each page keeps its picture and its words where they belong. One page per screen (rendition:spread none),
the page's shape is the printed page's, the text is real text (searchable, read aloud by screen readers),
the bundled font is embedded, and the cover picture is the EPUB's cover. ebooklib writes the container,
package document, navigation and NCX; the pages themselves are written as plain XHTML items, because
ebooklib's EpubHtml rebuilds each page's <head> and would drop the viewport that fixed layout requires.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from pathlib import Path

from storybook.errors import StorybookError
from storybook.fitting import Fit, frame_key
from storybook.fonts import FONT_FOLDER, LICENCE, faces, font_families
from storybook.manifest import Story
from storybook.options import BookOptions
from storybook.pagesize import MM_PER_UNIT
from storybook.pictures import PictureLook, backdrop_path
from storybook.render_html import band_picture_height, object_position, picture_styles, printable, template_environment

EPUB_NAME = "storybook.epub"
VIEWPORT_WIDTH = 800  # CSS px of every page; the height follows the printed page's shape
_MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".webp": "image/webp"}
_FONT_TYPES = {".otf": "font/otf", ".woff": "font/woff", ".woff2": "font/woff2", ".ttc": "font/collection",
               ".otc": "font/collection"}


def book_identifier(story: Story) -> str:
    """A stable identifier: the same story (title and creation time) always gets the same one, so an
    e-reader treats a re-rendered book as a new version of the same book."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'minigpt5-storybook:{story.title}:{story.created}')}"


def _pages(story: Story, moved: Collection[int]) -> list[dict]:
    """The EPUB's pages in reading order: the cover, then per story page one picture-with-band page, or a
    picture page and a text page for the pages whose text did not fit a band in print (storybook.fitting)."""
    pages: list[dict] = [{"kind": "cover", "index": 0}]
    for index in range(len(story.pages)):
        pages += [{"kind": "picture", "index": index}, {"kind": "text", "index": index}] if index in moved else \
            [{"kind": "band", "index": index}]
    return pages


def _inside_names(story: Story) -> dict[str, str]:
    """The name each picture gets inside the EPUB: `picture-001.png`, ... A book's own names may hold `#`, `?`,
    `%`, spaces or accents, which the package document's hrefs would have to escape and e-readers resolve
    inconsistently; plain names need no escaping anywhere."""
    names = dict.fromkeys(page.image for page in story.pages)
    return {name: f"picture-{number:03d}{Path(name).suffix.lower()}" for number, name in enumerate(names, start=1)}


def write_epub(story: Story, folder: Path, options: BookOptions, looks: dict[str, PictureLook],
               fit: Fit = Fit()) -> Path:
    """Write `folder/storybook.epub` from the book folder (its pictures and fonts are already there); `fit`: the
    text sizes and moved pages print measured (storybook.fitting), since the pages have the print pages' shape."""
    from ebooklib import epub

    folder = Path(folder)
    geometry = options.geometry()
    width = VIEWPORT_WIDTH
    height = round(width * geometry.height_mm / geometry.width_mm)
    px_per_mm = width / geometry.width_mm
    picture_height = round(band_picture_height(width, height))
    inside = _inside_names(story)
    styles = picture_styles(story, looks, inside)
    environment = template_environment()
    page_template = environment.get_template("epub-page.xhtml.j2")

    title, author = printable(story.title), printable(story.author)
    book = epub.EpubBook()
    book.set_identifier(book_identifier(story))
    book.set_title(title)
    book.set_language(story.language)
    if author:
        book.add_author(author)
    for prop, value in (("rendition:layout", "pre-paginated"), ("rendition:spread", "none"),
                        ("rendition:orientation", "auto")):
        book.add_metadata(None, "meta", value, {"property": prop})
    css = environment.get_template("epub.css.j2").render(
        fonts=faces(options.fonts), font_folder=FONT_FOLDER, font_families=font_families(options.fonts),
        font_px=round(geometry.font_pt * MM_PER_UNIT["pt"] * px_per_mm, 1),
        margin=round(geometry.margin_mm * px_per_mm))
    book.add_item(epub.EpubItem(uid="style", file_name="book.css", media_type="text/css", content=css.encode()))
    for number, face in enumerate(faces(options.fonts)):
        book.add_item(epub.EpubItem(uid=f"font-{number}", file_name=f"{FONT_FOLDER}/{face.file}",
                                    media_type=_FONT_TYPES.get(Path(face.file).suffix.lower(), "font/ttf"),
                                    content=(folder / FONT_FOLDER / face.file).read_bytes()))
    book.add_item(epub.EpubItem(uid="font-licence", file_name=f"{FONT_FOLDER}/{LICENCE}", media_type="text/plain",
                                content=(folder / FONT_FOLDER / LICENCE).read_bytes()))

    cover_image = story.pages[0].image
    book.set_cover(inside[cover_image], (folder / cover_image).read_bytes(), create_page=False)
    for number, name in enumerate(inside):
        if name != cover_image:
            book.add_item(epub.EpubImage(uid=f"picture-{number}", file_name=inside[name],
                                         media_type=_MEDIA_TYPES[Path(name).suffix.lower()],
                                         content=(folder / name).read_bytes()))

    for number, name in enumerate(name for name in inside if name in looks):
        book.add_item(epub.EpubImage(uid=f"backdrop-{number}", file_name=backdrop_path(inside[name]),
                                     media_type="image/jpeg", content=(folder / backdrop_path(name)).read_bytes()))

    spine, toc = [], []
    for number, page in enumerate(_pages(story, fit.moved), start=1):
        story_page = story.pages[page["index"]]
        content = page_template.render(
            kind=page["kind"], language=story.language, title=story.title, author=story.author, fit=fit,
            key=frame_key(page["index"]), page_language=story_page.language,
            text=story_page.text, image=inside[story_page.image], number=page["index"] + 1, width=width,
            height=height, picture_height=picture_height, edge=styles[story_page.image]["backdrop"],
            object_fit=options.fit, object_position=object_position(story_page),
            scaling=styles[story_page.image]["scaling"])
        item = epub.EpubItem(uid=f"page-{number:03d}", file_name=f"page-{number:03d}.xhtml",
                             media_type="application/xhtml+xml", content=content.encode("utf-8"))
        book.add_item(item)
        spine.append(item)
        if page["kind"] == "cover":
            toc.append(epub.Link(item.file_name, title, "cover"))
        elif page["kind"] != "text":
            toc.append(epub.Link(item.file_name, f"Page {page['index'] + 1}", f"story-page-{page['index'] + 1}"))
    book.toc = toc
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = spine
    path = folder / EPUB_NAME
    modified = datetime.fromisoformat(story.created)
    if not epub.write_epub(str(path), book, {"mtime": modified, "raise_exceptions": True}):
        raise StorybookError(f"could not write {path}")
    return path
