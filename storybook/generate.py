"""Writing a new story with a MiniGPT-5 model: text and one picture per page.

The story itself comes from the core's story service (`MiniGPT5.story`: N pages, one picture each); this module
turns it into a `StoryInput`. The model library is imported inside the function, so rendering and importing
stories need neither torch nor a model (`minigpt5_core.layout` is torch-free).
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from storybook.book import StoryInput, story_from_pages
from storybook.errors import StorybookError
from storybook.filehash import folder_sha256
from storybook.manifest import ModelInfo

DEFAULT_PROMPT = "A large blue square appears in the middle."  # the bundled model knows only the shapes world
DEFAULT_PAGES = 5
DEFAULT_SEED = 0


def default_model_dir() -> Path | None:
    """The model `python -m storybook make` uses when given no input: the bundled shapes-world model
    (trained by `python -m minigpt5_core.shapes train`); None if it is missing from this install.

    Located without importing minigpt5_core, so that rendering and importing stories stay torch-free."""
    from importlib.util import find_spec

    spec = find_spec("minigpt5_core")
    if spec is None or not spec.submodule_search_locations:
        return None
    from minigpt5_core.layout import is_model_folder

    folder = Path(next(iter(spec.submodule_search_locations))) / "assets" / "shapes-default"
    return folder if is_model_folder(folder) else None


def checkpoint_hash(model_dir: Path) -> str:
    """Identifies the model a book was drawn with (`storybook.filehash`: every file, read once until it changes)."""
    return folder_sha256(model_dir)


def generate_story(model_dir: str | Path, prompt: str, *, pages: int, seed: int, title: str | None = None,
                   author: str = "MiniGPT-5", steps: int | None = None, guidance: float | None = None,
                   image_size: int | None = None, progress: bool = False,
                   sd: str | Path | None = None) -> StoryInput:
    """Continue `prompt` for `pages` pages; page i's picture is drawn with seed `seed + i`.

    `sd` is the Stable Diffusion to draw with when the model folder has no sd/ (or to replace it): a local
    diffusers folder or one original-layout checkpoint file such as v2-1_512-ema-pruned.safetensors.
    """
    from minigpt5_core.errors import MiniGPT5Error
    from minigpt5_core.layout import GENERATOR_DIR, check_model_folder

    model_dir = Path(model_dir)
    if pages < 1:
        raise StorybookError(f"--pages must be at least 1, got {pages}")
    try:
        check_model_folder(model_dir)
    except MiniGPT5Error as e:
        raise StorybookError(str(e)) from e
    if sd is None and not (model_dir / GENERATOR_DIR).is_dir():
        raise StorybookError(f"model folder {model_dir} has no {GENERATOR_DIR}/ (Stable Diffusion) to draw with: pass "
                             "--sd PATH, a local SD 2.1-base checkpoint file (v2-1_512-ema-pruned.safetensors) "
                             "or diffusers folder")
    if sd is not None and not Path(sd).exists():
        raise StorybookError(f"--sd {sd} does not exist; give a Stable Diffusion 2.1-base folder (diffusers layout) "
                             "or checkpoint file (v2-1_512-ema-pruned.safetensors)")
    try:
        from minigpt5_core import MiniGPT5
    except ImportError as e:
        raise StorybookError(f"generating a story needs the minigpt5_core library, which failed to import: {e}") from e
    options = {"steps": steps, "guidance": guidance, "height": image_size, "width": image_size}
    options = {key: value for key, value in options.items() if value is not None}
    try:
        model = MiniGPT5.from_pretrained(model_dir, image_generator=sd) if sd is not None else \
            MiniGPT5.from_pretrained(model_dir)
        with tqdm(desc="writing", unit="token", disable=None if progress else True) as bar:
            story = model.story(prompt, pages=pages, seed=seed, on_token=lambda *_: bar.update())
        pictures = [model.render_images(story.vokens[i:i + 1], seed=seed + i, **options)[0]
                    for i in tqdm(range(len(story)), desc="drawing", unit="page", disable=None if progress else True)]
        texts = [text.strip() for text in story.texts]
    except MiniGPT5Error as e:
        raise StorybookError(str(e)) from e
    info = ModelInfo(name=model_dir.name, checkpoint_hash=checkpoint_hash(model_dir), steps=steps, guidance=guidance)
    return story_from_pages(texts, pictures, title=title or prompt.strip()[:80] or "A story", author=author,
                            seeds=[seed + i for i in range(len(texts))], prompts=[prompt] * len(texts),
                            provenance=[{"source": "minigpt5", "story_seed": seed, "page": i + 1,
                                         **({"stable_diffusion": Path(sd).name} if sd is not None else {})}
                                        for i in range(len(texts))],
                            model=info)
