"""Save Storybook's font and fit inputs, in a real ComfyUI 0.3.75: a script the bundled font lacks is drawn with a
font from ComfyUI's models/fonts folder, as `make --font` does, and the refusal without one says where to put it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from font_probes import TANGUT, lacking, square_font
from pdf_reading import embedded_fonts, pdf_text

from storybook import StorybookError


@pytest.fixture(scope="module")
def font_in_comfyui(comfy_models) -> str:
    fonts = comfy_models.base / "models" / "fonts"
    fonts.mkdir(parents=True, exist_ok=True)
    square_font(fonts / "squares.ttf")
    return "squares.ttf"


def test_the_font_input_lists_the_files_of_comfyuis_fonts_folder(comfy, font_in_comfyui):
    choices, options = comfy.node_classes["SaveStorybook"].INPUT_TYPES()["optional"]["font"]
    assert choices[0] == options["default"] == "none" and font_in_comfyui in choices


def test_a_font_from_the_fonts_folder_draws_what_andika_lacks_and_is_embedded(comfy, font_in_comfyui):
    save = comfy.node_classes["SaveStorybook"]()
    out = save.save(torch.rand(2, 64, 48, 3), f"A fox.\nTangut {TANGUT}.", "Fonts", "storybook/fonts", "8x8in",
                    "picture-book", fit="cover", font=font_in_comfyui)
    folder = Path(out["result"][0])
    assert TANGUT in pdf_text(folder / "storybook.pdf")
    assert "Storybook-user-squares" in embedded_fonts(folder / "storybook.pdf")
    book = json.loads((folder / "story.json").read_text())["book"]
    assert book["fonts"] == [font_in_comfyui] and book["fit"] == "cover"
    assert (folder / "fonts" / font_in_comfyui).is_file()  # kept in the book, as make --font keeps it


def test_without_a_font_the_refusal_names_the_font_input_and_no_folder_is_left(comfy, comfy_models):
    if not lacking(TANGUT):
        pytest.skip("this machine has a Tangut font")
    save = comfy.node_classes["SaveStorybook"]()
    before = set((comfy_models.base / "output").rglob("*"))
    with pytest.raises(StorybookError, match=r"U\+17000.*Save Storybook's font input \(a file in models/fonts\)"):
        save.save(torch.rand(1, 64, 64, 3), f"Tangut {TANGUT}.", "No font", "storybook/nofont", "8x8in",
                  "picture-book")
    assert set((comfy_models.base / "output").rglob("*")) == before


def test_a_font_that_left_the_folder_is_named_with_the_folder(comfy):
    save = comfy.node_classes["SaveStorybook"]()
    with pytest.raises(StorybookError, match=r"font 'gone.ttf' is not in ComfyUI's fonts folder \(.*models/fonts"):
        save.save(torch.rand(1, 64, 64, 3), "A page.", "Gone", "storybook/gone", "8x8in", "picture-book",
                  font="gone.ttf")
