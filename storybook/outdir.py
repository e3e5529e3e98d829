"""Publishing an output folder atomically: build beside it, then rename into place.

A book is built in a temporary folder next to OUT (same file system, so the final step is a rename).
Until the new book is complete, an existing OUT is left untouched; on any error the temporary folder is
removed and OUT is exactly as before. An existing OUT is only ever replaced if it is empty or is itself
a storybook folder (it holds story.json): a folder of someone's other files is never deleted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storybook.errors import StorybookError
from storybook.manifest import MANIFEST_NAME

TEMP_MARK = ".storybook-tmp-"


def check_out_folder(out: Path) -> None:
    """Raise StorybookError if writing a book to `out` would destroy something that is not a book."""
    if out.exists() and not out.is_dir():
        raise StorybookError(f"output {out} exists and is a file; choose a folder with --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
        raise StorybookError(f"output folder {out} is not empty and holds no {MANIFEST_NAME}, so it is not a "
                             "storybook folder this tool may replace; choose another --out or empty it")


@contextmanager
def building(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; when the block succeeds it becomes `out`.

    Replacing an existing `out` takes two renames (old aside, new in); the old one is deleted only
    after the new one is in place.
    """
    out = Path(out).absolute()
    check_out_folder(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{TEMP_MARK}", dir=out.parent))
    except OSError as e:
        raise StorybookError(f"cannot write beside {out}: {e.strerror or e}") from None
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private; a book folder is meant to be shared
        try:
            _publish(tmp, out)
        except OSError as e:
            raise StorybookError(f"cannot move the finished book into {out}: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}{TEMP_MARK}old-", dir=out.parent))
    try:
        os.replace(out, old / out.name)
        try:
            os.replace(tmp, out)
        except OSError:
            os.replace(old / out.name, out)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
