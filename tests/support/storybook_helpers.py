"""Helpers the storybook CLI tests share: a story folder as the ComfyUI node writes it, running
`python -m storybook make` in-process, and a folder's files for byte-for-byte comparisons."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from storybook import Page, Story, save_story
from storybook.cli import main


def story_folder(folder: Path, texts=("A cat sat.",), **first_page) -> Path:
    """A manifest folder with one 64x48 picture per text; `first_page` overrides fields of page 1 as raw JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    for i, text in enumerate(texts, start=1):
        Image.new("RGB", (64, 48), (40 * i, 80, 120)).save(folder / f"p{i}.png")
        pages.append(Page(text=text, image=f"p{i}.png", seed=i))
    save_story(Story(title="Pets", pages=pages), folder)
    if first_page:
        data = json.loads((folder / "story.json").read_text())
        data["pages"][0].update(first_page)
        (folder / "story.json").write_text(json.dumps(data))
    return folder


def run_make(capsys, *args) -> tuple[int, str, str]:
    """`python -m storybook make ARGS` in this process: (exit code, stdout, stderr)."""
    code = main(["make", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
