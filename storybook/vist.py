"""A VIST story as a book: one story of a VIST file becomes a `StoryInput`.

The files are parsed, and their photos looked up, by the library's torch-free reader
(`minigpt5_core.data.vist`, which training uses too); this adapter picks the story, names the page pictures
and turns the reader's errors into `StorybookError`s, so that the CLI prints them as one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from minigpt5_core.data.records import load_json
from minigpt5_core.data.vist import VistStory, parse_vist_cleaned, parse_vist_sis, vist_form
from minigpt5_core.errors import MiniGPT5Error
from storybook.book import StoryInput
from storybook.errors import StorybookError
from storybook.manifest import Page, Story, title_from

_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")
# The dataset's tokenised captions ("every one else arrived soon after .", "it 's", "did n't") as print wants them.
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,!?;:)\]}%]|'(?:s|re|ve|ll|d|m)\b|n't\b)")
_SPACE_AFTER_OPENING = re.compile(r"([(\[{])\s+")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")
_LONE_I = re.compile(r"\bi\b")


def tidy_caption(text: str) -> str:
    """A VIST caption as print wants it: no space before punctuation or a contraction, and, for a caption that
    is all lower case (the dataset's tokenised form), sentence case and a capital "I". Cased text (SIS
    `original_text`) keeps its own capitals."""
    tidy = _SPACE_AFTER_OPENING.sub(r"\1", _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split())))
    if tidy == tidy.lower():
        tidy = _LONE_I.sub("I", _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), tidy))
    return tidy


def _pick(story_ids: Iterable[str], story_id: str | None, path: Path) -> str:
    ids = list(story_ids)
    examples = ", ".join(ids[:5])
    if story_id is None:
        if len(ids) == 1:
            return ids[0]
        raise StorybookError(f"{path} holds {len(ids)} stories; pick one with --story-id (e.g. {examples})")
    if str(story_id) not in ids:
        raise StorybookError(f"story id {story_id} is not in {path} (it holds {len(ids)} stories, e.g. {examples})")
    return str(story_id)


def _page_name(number: int, image_id: str, source: Path) -> str:
    return f"page-{number:03d}-{_SAFE_ID.sub('_', image_id)}{source.suffix.lower()}"


def _as_input(story: VistStory) -> StoryInput:
    pages, sources = [], {}
    id_key = "photo_id" if story.form == "vist-sis" else "image_id"
    for number, step in enumerate(story.steps, start=1):
        name = _page_name(number, step.image_id, step.image)
        sources[name] = step.image
        provenance = {"source": story.form, "story_id": story.story_id, id_key: step.image_id, **step.details}
        pages.append(Page(text=tidy_caption(step.text), image=name, provenance=provenance))
    return StoryInput(Story(title=story.title or title_from(pages[0].text), pages=pages), sources)


def _story(path: Path, images: str | Path | None, image_map: str | Path | None, story_id: str | None) -> VistStory:
    data = load_json(path, "VIST file")
    form = vist_form(data)
    if form == "vist-sis":
        if images is None:
            raise StorybookError("a VIST story-in-sequence file needs the photo folder: add --images DIR")
        sis = parse_vist_sis(data, path, images)
        if sis.malformed:
            raise StorybookError(f"{path}: annotations[{sis.malformed[0]}] is not a one-element list holding an "
                                 "object with a story_id")
        return sis.story(_pick(sis.stories, story_id, path))
    if form == "vist-cleaned":
        if image_map is None:
            raise StorybookError("a cleaned VIST file needs its image id -> path map: add --image-map FILE")
        cleaned = parse_vist_cleaned(data, path, image_map, images)
        return cleaned.story(_pick(cleaned.stories, story_id, path))
    raise StorybookError(f"{path} is neither a VIST story-in-sequence file (no 'annotations') nor a cleaned "
                         "VIST file ({story_id: [{caption, image_id, sequence_index}]})")


def from_vist(path: str | Path, *, images: str | Path | None = None, image_map: str | Path | None = None,
              story_id: str | None = None) -> StoryInput:
    """One VIST story as input; the form (raw SIS or cleaned) is recognised from the file's content."""
    try:
        return _as_input(_story(Path(path), images, image_map, story_id))
    except MiniGPT5Error as exc:
        raise StorybookError(str(exc)) from None
