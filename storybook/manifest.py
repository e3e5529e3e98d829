"""The story manifest: `story.json` plus the page images beside it.

The manifest is the contract between the generator, the ComfyUI nodes and the renderers, so it is
validated strictly on load (a typo such as "titel" is an error, not a silently missing title) and every
message names the page and the field. Image paths are relative to the story folder and may not leave it:
a manifest is something people share, and rendering one must never read files from elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from storybook.errors import StorybookError

SCHEMA_VERSION = 1
MANIFEST_NAME = "story.json"
# Formats that both weasyprint (through Pillow) and every browser display.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_TITLE_WORDS = 12  # a default title longer than this is cut at a word (the page itself keeps every word)


def title_from(text: str) -> str:
    """A default book title from a story's first page: its first sentence, without the final stop, so that the
    cover (which shows page 1's picture) and its title tell the same thing."""
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].rstrip(".")
    words = sentence.split()
    return " ".join(words[:_TITLE_WORDS]) + ("…" if len(words) > _TITLE_WORDS else "")


def now_iso() -> str:
    """The current time as an ISO 8601 string in UTC, to the second (the `created` field)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class ModelInfo:
    """Which model made the story and how, so that a page can be reproduced from its seed."""

    name: str
    checkpoint_hash: str | None = None
    sampler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    image_size: int | None = None  # picture width and height in pixels
    # StoryDiffusion consistency ratio the pages were drawn with, together in one batch (None: each on its own)
    consistency: float | None = None


@dataclass
class UpscaleInfo:
    """The upscale model every picture of the book was enlarged with (`make --upscale`), so that `redraw`
    enlarges a new picture the same way and refuses another model."""

    model: str  # the file's name, as ComfyUI lists it in models/upscale_models/
    sha256: str  # "sha256:<hex>" of the file
    scale: int
    architecture: str  # as spandrel names it, e.g. "ESRGAN"


@dataclass
class Page:
    """One story page: its text and its picture (a path relative to the story folder)."""

    text: str
    image: str
    seed: int | None = None
    prompt: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    features: str | None = None  # name of this page's voken features in features.safetensors (for redraw)
    language: str | None = None  # the page's language tag where it differs from the story's (hyphenation, fonts)
    focus: tuple[float, float] | None = None  # the picture's focal point (x, y from its top-left, 0-1), for --fit cover


@dataclass
class Story:
    """A whole story as written to `story.json` (schema 1)."""

    title: str
    pages: list[Page]
    author: str = ""
    language: str = "en"
    created: str = field(default_factory=now_iso)
    model: ModelInfo | None = None
    book: dict[str, Any] | None = None  # the BookOptions the book was last printed with (for redraw)
    upscale: UpscaleInfo | None = None  # the pictures were enlarged with this model before layout


def check_image_path(path: Any, where: str) -> str:
    """Return `path` if it is a usable relative image path, else raise naming `where`.

    Only the spelling is checked here; `resolve_image` also checks where a path leads on disk.
    """
    if not isinstance(path, str) or not path.strip():
        raise StorybookError(f"{where}: expected a relative image path such as 'page-001.png'")
    if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in path):
        raise StorybookError(f"{where}: {path!r} contains a control character or invalid Unicode; "
                             "rename the picture with ordinary characters")
    if "\\" in path:
        raise StorybookError(f"{where}: {path!r} contains '\\'; write paths with '/'")
    pure = PurePosixPath(path)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", path):
        raise StorybookError(f"{where}: {path!r} is absolute; image paths must be relative to the story folder")
    if ".." in pure.parts:
        raise StorybookError(f"{where}: {path!r} leaves the story folder ('..' is not allowed)")
    if pure.suffix.lower() not in IMAGE_SUFFIXES:
        raise StorybookError(
            f"{where}: {path!r} is not a supported image type (use {', '.join(IMAGE_SUFFIXES)})"
        )
    return path


def resolve_image(folder: Path, path: str) -> Path:
    """The file an image path names inside `folder`; a symlink leading out of the folder is rejected."""
    target = (folder / path).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise StorybookError(f"image {path!r} leads outside the story folder {folder} (through a link)")
    return target


def story_to_dict(story: Story) -> dict[str, Any]:
    """The JSON form of a story, fields in a stable order."""
    model = None
    if story.model is not None:
        m = story.model
        model = {"name": m.name, "checkpoint_hash": m.checkpoint_hash, "sampler": m.sampler,
                 "steps": m.steps, "guidance": m.guidance, "image_size": m.image_size}
        if m.consistency is not None:  # written only when used: books drawn page by page keep their story.json
            model["consistency"] = m.consistency
    return {
        "schema": SCHEMA_VERSION,
        "title": story.title,
        "author": story.author,
        "language": story.language,
        "created": story.created,
        "pages": [
            {"text": p.text, "image": p.image, "seed": p.seed, "prompt": p.prompt, "provenance": p.provenance,
             **({"features": p.features} if p.features else {}),
             **({"language": p.language} if p.language else {}),
             **({"focus": list(p.focus)} if p.focus else {})}
            for p in story.pages
        ],
        "model": model,
        **({"book": story.book} if story.book is not None else {}),
        **({"upscale": asdict(story.upscale)} if story.upscale is not None else {}),
    }


def _expect(value: Any, kinds: type | tuple[type, ...], where: str, what: str, optional: bool = False) -> Any:
    if optional and value is None:
        return None
    # bool is an int in Python, but `"seed": true` is a mistake worth reporting.
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise StorybookError(f"{where}: expected {what}, got {json.dumps(value)}")
    if not isinstance(value, kinds):
        raise StorybookError(f"{where}: expected {what}, got {json.dumps(value)[:60]}")
    return value


def _text(value: Any, where: str, what: str = "a string", optional: bool = False) -> Any:
    """A string field that can be written as UTF-8 (a lone surrogate, e.g. from a non-UTF-8 command line
    argument or a `"\\ud800"` escape, cannot be printed or saved)."""
    value = _expect(value, str, where, what, optional)
    if value is not None:
        check_text(value, where)
    return value


def check_text(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise StorybookError(f"{where}: character {e.start + 1} ({ascii(value[e.start])}) is not valid Unicode "
                             "(a lone surrogate, e.g. from text that was not UTF-8); re-type or re-encode "
                             "the text as UTF-8") from None


def _provenance(value: Any, where: str) -> dict[str, Any]:
    """Free-form JSON, but it must be storable: finite in depth and valid Unicode."""
    value = _expect(value, dict, where, "an object")
    try:
        text = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        raise StorybookError(f"{where}: nested too deeply to store; flatten it") from None
    except (TypeError, ValueError) as e:
        raise StorybookError(f"{where}: holds a value JSON cannot store ({e})") from None
    check_text(text, where)
    return value


def _check_keys(data: dict, known: tuple[str, ...], required: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise StorybookError(f"{where}: unknown field {unknown[0]!r} (known fields: {', '.join(known)})")
    for key in required:
        if key not in data:
            raise StorybookError(f"{where}: missing field {key!r}")


def _page_from_dict(data: Any, where: str) -> Page:
    _expect(data, dict, where, "an object with text and image")
    _check_keys(data, ("text", "image", "seed", "prompt", "provenance", "features", "language", "focus"),
                ("text", "image"), where)
    return Page(
        text=_text(data["text"], f"{where}: field 'text'"),
        image=check_image_path(data["image"], f"{where}: field 'image'"),
        seed=_expect(data.get("seed"), int, f"{where}: field 'seed'", "an integer or null", optional=True),
        prompt=_text(data.get("prompt"), f"{where}: field 'prompt'", "a string or null", optional=True),
        provenance=_provenance(data.get("provenance", {}), f"{where}: field 'provenance'"),
        features=_text(data.get("features"), f"{where}: field 'features'", "a string or null", optional=True),
        language=_language(data["language"], f"{where}: field 'language'") if "language" in data else None,
        focus=_focus(data.get("focus"), f"{where}: field 'focus'"),
    )


def _focus(value: Any, where: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in value)):
        raise StorybookError(f"{where}: give the picture's focal point as [x, y], each from 0 to 1 "
                             "(fractions of its width and height from the top-left), e.g. [0.5, 0.3]")
    return (float(value[0]), float(value[1]))


def _language(value: Any, where: str) -> str:
    """A BCP 47 language tag such as 'en' or 'pt-BR' (weasyprint picks its hyphenation dictionary by it)."""
    language = _expect(value, str, where, "a language tag")
    if not _LANGUAGE.match(language):
        raise StorybookError(f"{where}: {language!r} is not a language tag such as 'en' or 'pt-BR'")
    return language


def _model_from_dict(data: Any, where: str) -> ModelInfo | None:
    if data is None:
        return None
    _expect(data, dict, where, "an object or null")
    _check_keys(data, ("name", "checkpoint_hash", "sampler", "steps", "guidance", "image_size", "consistency"),
                ("name",), where)
    return ModelInfo(
        name=_text(data["name"], f"{where}: field 'name'"),
        checkpoint_hash=_expect(data.get("checkpoint_hash"), str, f"{where}: field 'checkpoint_hash'",
                                "a string or null", optional=True),
        sampler=_expect(data.get("sampler"), str, f"{where}: field 'sampler'", "a string or null", optional=True),
        steps=_expect(data.get("steps"), int, f"{where}: field 'steps'", "an integer or null", optional=True),
        guidance=_expect(data.get("guidance"), (int, float), f"{where}: field 'guidance'", "a number or null",
                         optional=True),
        image_size=_expect(data.get("image_size"), int, f"{where}: field 'image_size'", "an integer or null",
                           optional=True),
        consistency=_expect(data.get("consistency"), (int, float), f"{where}: field 'consistency'",
                            "a number or null", optional=True),
    )


def _upscale_from_dict(data: Any, where: str) -> UpscaleInfo | None:
    if data is None:
        return None
    _expect(data, dict, where, "an object or null")
    _check_keys(data, ("model", "sha256", "scale", "architecture"), ("model", "sha256", "scale", "architecture"),
                where)
    scale = _expect(data["scale"], int, f"{where}: field 'scale'", "a whole number such as 4")
    if scale < 1:
        raise StorybookError(f"{where}: field 'scale' must be at least 1, got {scale}")
    return UpscaleInfo(model=_text(data["model"], f"{where}: field 'model'"),
                       sha256=_text(data["sha256"], f"{where}: field 'sha256'"), scale=scale,
                       architecture=_text(data["architecture"], f"{where}: field 'architecture'"))


def story_from_dict(data: Any, where: str = MANIFEST_NAME) -> Story:
    """Validate the JSON form of a story; errors name the page (1-based) and the field."""
    _expect(data, dict, where, "a JSON object")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA_VERSION:
            raise StorybookError(f"{where}: written for schema {schema}, but this storybook reads schema "
                                 f"{SCHEMA_VERSION}; upgrade minigpt5-storybook")
        raise StorybookError(f"{where}: field 'schema' must be {SCHEMA_VERSION}, got {json.dumps(schema)}")
    _check_keys(data, ("schema", "title", "author", "language", "created", "pages", "model", "book", "upscale"),
                ("title", "pages"), where)
    title = _text(data["title"], f"{where}: field 'title'")
    if not title.strip():
        raise StorybookError(f"{where}: field 'title' is empty; give the story a title")
    language = _language(data.get("language", "en"), f"{where}: field 'language'")
    created = _expect(data.get("created", now_iso()), str, f"{where}: field 'created'", "an ISO 8601 date")
    try:
        datetime.fromisoformat(created)
    except ValueError:
        raise StorybookError(f"{where}: field 'created': {created!r} is not an ISO 8601 date such as "
                             "'2026-11-26T07:00:00+00:00'") from None
    pages = _expect(data["pages"], list, f"{where}: field 'pages'", "a list of pages")
    if not pages:
        raise StorybookError(f"{where}: field 'pages' is empty; a story needs at least one page")
    return Story(
        title=title,
        author=_text(data.get("author", ""), f"{where}: field 'author'"),
        language=language,
        created=created,
        pages=[_page_from_dict(p, f"{where}: page {i}") for i, p in enumerate(pages, start=1)],
        model=_model_from_dict(data.get("model"), f"{where}: field 'model'"),
        book=_expect(data.get("book"), dict, f"{where}: field 'book'", "an object or null", optional=True),
        upscale=_upscale_from_dict(data.get("upscale"), f"{where}: field 'upscale'"),
    )


def load_story(folder: str | os.PathLike) -> Story:
    """Read and validate `folder/story.json`. Raises StorybookError saying what to fix."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise StorybookError(f"story folder {folder} does not exist or is not a folder")
    if not path.is_file():
        raise StorybookError(f"{folder} has no {MANIFEST_NAME} (a story folder holds {MANIFEST_NAME} "
                             "and the page images)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise StorybookError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise StorybookError(f"{path} is not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise StorybookError(f"{path} is nested too deeply to read; flatten its 'provenance'") from None
    except OSError as e:
        raise StorybookError(f"{path} cannot be read: {e.strerror or e}") from None
    return story_from_dict(data, where=str(path))


def story_json(story: Story) -> str:
    """The manifest text of `story`, validated as `load_story` would validate it (raises StorybookError).

    Called before a book is written, so that a bad value (a lone surrogate in a page's text, a provenance
    nested too deeply) is reported before any picture is copied or drawn."""
    where = f"story {ascii(story.title)}"
    try:
        text = json.dumps(story_to_dict(story), ensure_ascii=False, indent=2) + "\n"
    except RecursionError:
        raise StorybookError(f"{where} holds a value nested too deeply to store (in a page's provenance?)") from None
    except (TypeError, ValueError) as e:
        raise StorybookError(f"{where} holds a value JSON cannot store: {e}") from None
    story_from_dict(json.loads(text), where=where)
    return text


def save_story(story: Story, folder: str | os.PathLike, text: str | None = None) -> Path:
    """Validate `story` and write `folder/story.json` atomically; returns the path written.

    `text` is `story_json(story)` when the caller has already validated the story that way.

    The file is written to a temporary name and renamed into place, so an interrupted run leaves
    either the old manifest or the new one, never half of one.
    """
    text = story_json(story) if text is None else text
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a manifest is meant to be shared
        os.replace(tmp, folder / MANIFEST_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / MANIFEST_NAME
