"""The story manifest: what story.json holds, how it is checked on load, and how it is written."""

import json
import os

import pytest

from storybook import ModelInfo, Page, Story, StorybookError, from_manifest, load_story, save_story
from storybook.manifest import story_to_dict


def a_story(**changes) -> Story:
    story = Story(
        title="The Red Circle",
        author="Ann",
        language="en",
        created="2026-11-26T07:00:00+00:00",
        pages=[
            Page(text="A red circle woke up.", image="page-001.png", seed=7, prompt="A red circle",
                 provenance={"source": "minigpt5", "page": 1}),
            Page(text="It rolled away.", image="pictures/page-002.jpg"),
        ],
        model=ModelInfo(name="toy", checkpoint_hash="sha256:ab", sampler="ddim", steps=20, guidance=3.0),
    )
    for key, value in changes.items():
        setattr(story, key, value)
    return story


def write_manifest(folder, data) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "story.json").write_text(json.dumps(data), encoding="utf-8")


def test_save_then_load_gives_the_same_story(tmp_path):
    story = a_story()
    save_story(story, tmp_path)
    assert load_story(tmp_path) == story


def test_saved_manifest_has_schema_1_and_the_documented_fields(tmp_path):
    save_story(a_story(), tmp_path)
    data = json.loads((tmp_path / "story.json").read_text())
    assert data["schema"] == 1
    assert set(data) == {"schema", "title", "author", "language", "created", "pages", "model"}
    assert set(data["pages"][0]) == {"text", "image", "seed", "prompt", "provenance"}
    assert set(data["model"]) == {"name", "checkpoint_hash", "sampler", "steps", "guidance", "image_size"}


def test_error_names_the_page_and_the_field(tmp_path):
    data = story_to_dict(a_story())
    data["pages"][1]["seed"] = "seven"
    write_manifest(tmp_path, data)
    with pytest.raises(StorybookError, match=r"page 2: field 'seed': expected an integer"):
        load_story(tmp_path)


def test_missing_page_field_is_named(tmp_path):
    data = story_to_dict(a_story())
    del data["pages"][0]["text"]
    write_manifest(tmp_path, data)
    with pytest.raises(StorybookError, match=r"page 1: missing field 'text'"):
        load_story(tmp_path)


def test_misspelt_field_is_an_error_not_ignored(tmp_path):
    data = story_to_dict(a_story())
    data["titel"] = data.pop("title")
    write_manifest(tmp_path, data)
    with pytest.raises(StorybookError, match=r"unknown field 'titel'"):
        load_story(tmp_path)


def test_newer_schema_asks_for_an_upgrade(tmp_path):
    data = story_to_dict(a_story())
    data["schema"] = 2
    write_manifest(tmp_path, data)
    with pytest.raises(StorybookError, match=r"schema 2.*upgrade"):
        load_story(tmp_path)


def test_malformed_json_reports_line_and_column(tmp_path):
    (tmp_path / "story.json").write_text('{"schema": 1,\n "title": "x",,}', encoding="utf-8")
    with pytest.raises(StorybookError, match=r"not valid JSON: line 2 column"):
        load_story(tmp_path)


def test_folder_without_manifest_says_what_a_story_folder_holds(tmp_path):
    with pytest.raises(StorybookError, match=r"has no story.json"):
        load_story(tmp_path)


@pytest.mark.parametrize("path, problem", [
    ("/etc/passwd.png", "is absolute"),
    ("../outside.png", "leaves the story folder"),
    ("pictures/../../outside.png", "leaves the story folder"),
    ("C:/pictures/page.png", "is absolute"),
    ("pictures\\page.png", "write paths with '/'"),
    ("page-001.tiff", "not a supported image type"),
])
def test_image_path_must_be_relative_and_inside_the_folder(tmp_path, path, problem):
    data = story_to_dict(a_story())
    data["pages"][1]["image"] = path
    write_manifest(tmp_path, data)
    with pytest.raises(StorybookError, match=rf"page 2: field 'image'.*{problem}"):
        load_story(tmp_path)


def test_saving_an_invalid_story_fails_before_writing(tmp_path):
    with pytest.raises(StorybookError, match=r"page 1: field 'image'"):
        save_story(a_story(pages=[Page(text="x", image="../x.png")]), tmp_path)
    assert not (tmp_path / "story.json").exists()


def test_interrupted_save_keeps_the_old_manifest_and_leaves_no_temp_file(tmp_path, monkeypatch):
    save_story(a_story(), tmp_path)
    before = (tmp_path / "story.json").read_bytes()

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_story(a_story(title="A new title"), tmp_path)
    assert (tmp_path / "story.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.json"]


def test_picture_linked_from_outside_the_folder_is_rejected(tmp_path):
    (tmp_path / "secret.png").write_bytes(b"not yours")
    folder = tmp_path / "story"
    save_story(a_story(pages=[Page(text="x", image="page.png")]), folder)
    (folder / "page.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(StorybookError, match=r"'page.png' leads outside the story folder"):
        from_manifest(folder)
