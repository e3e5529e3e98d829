"""Publishing a book folder atomically, and which folders a book may replace.

The writing itself is the library's one implementation (`minigpt5_core.io.folder.staged_folder`): the book is
built in a hidden `.OUT.storybook-tmp-*` folder beside OUT and renamed into place when complete, so an
interrupted run leaves OUT as it was, and the next run removes temporary folders a killed run left.
What is storybook's own is decided here: an existing, non-empty OUT is replaced only if it holds a valid
story.json and nothing but what a book made from it holds (the manifest, its pictures, index.html, the PDF).
A folder with anyone else's files in it, or a mere file named story.json, is never deleted.

One writer per book at a time (`editing`): a `redraw` or `make` reads a book and writes it back, so two of
them on one book at once would both succeed while the first one's change is silently lost. Each holds a lock
file beside the book (`.OUT.storybook-lock`, through the `filelock` package) from reading to publishing,
and a second run on the same book is refused with the reason instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from minigpt5_core.io.folder import check_replaceable, staged_folder

from storybook.bookfiles import extra_book_files
from storybook.errors import StorybookError
from storybook.fonts import FONT_FOLDER
from storybook.pictures import backdrop_path
from storybook.manifest import MANIFEST_NAME, load_story
from storybook.render_html import HTML_NAME
from storybook.render_pdf import PDF_NAME

TEMP_MARK = ".storybook-tmp-"
LOCK_MARK = ".storybook-lock"
_HOW = "choose another --out, or move its files away yourself"


def _book_files(folder: Path) -> set[str] | None:
    """The relative paths a book made from `folder/story.json` consists of (None: no valid story.json)."""
    try:
        story = load_story(folder)
    except StorybookError:
        return None
    own = {MANIFEST_NAME, HTML_NAME, PDF_NAME, *extra_book_files()}
    if isinstance(story.book, dict) and isinstance(story.book.get("fonts"), list):
        own.update(f"{FONT_FOLDER}/{name}" for name in story.book["fonts"] if isinstance(name, str))
    for page in story.pages:
        own.add(page.image)
        own.add(backdrop_path(page.image))
        own.update(str(parent) for parent in PurePosixPath(backdrop_path(page.image)).parents if str(parent) != ".")
        own.update(str(parent) for parent in PurePosixPath(page.image).parents if str(parent) != ".")
    return own


def book_folder_problem(folder: Path) -> str | None:
    """None if `folder` is a storybook folder holding nothing but its book's files, else why not."""
    own = _book_files(folder)
    if own is None:
        return f"{folder} is not a storybook folder (it has no valid {MANIFEST_NAME})"
    foreign = sorted(str(p.relative_to(folder).as_posix()) for p in folder.rglob("*")
                     if p.relative_to(folder).as_posix() not in own)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        return f"{folder} holds files that are not part of its book ({shown})"
    return None


def check_out_folder(out: Path) -> None:
    """Raise StorybookError if writing a book to `out` would destroy something that is not a book."""
    check_replaceable(out, book_folder_problem, _HOW, StorybookError)


@contextmanager
def building(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; when the block succeeds it becomes `out`."""
    with staged_folder(out, book_folder_problem, mark=TEMP_MARK, how_to_proceed=_HOW,
                       error=StorybookError) as tmp:
        yield tmp


@contextmanager
def editing(book: str | os.PathLike) -> Iterator[None]:
    """Hold `book` for this run from reading to publishing; raise StorybookError if another run holds it.

    The lock file stays beside the book: deleting it on release would let a third run lock a new file while a
    second still holds the deleted one."""
    from filelock import FileLock, Timeout

    book = Path(book).absolute()
    try:
        book.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(book.parent / f".{book.name}{LOCK_MARK}", timeout=0)
        lock.acquire()
    except Timeout:
        raise StorybookError(f"{book} is being written by another run (a redraw or make) right now; wait for it "
                             "to finish and run again, so that neither change is lost") from None
    except OSError as exc:
        raise StorybookError(f"cannot write beside {book}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        lock.release()
