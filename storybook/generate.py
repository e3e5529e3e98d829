"""Writing a new story with a MiniGPT-5 model: text and one picture per page.

The story itself comes from the core's story service (`MiniGPT5.story`: N pages, one picture each); this module
turns it into a `StoryInput`, keeping each page's voken features and the sampler settings actually used, so that
`storybook.redraw` can draw any page again exactly as it was drawn here. The model library is imported inside the function, so rendering and importing
stories need neither torch nor a model (`minigpt5_core.layout` is torch-free).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from storybook.book import StoryInput, story_from_pages
from storybook.errors import StorybookError
from storybook.filehash import folder_sha256
from storybook.manifest import ModelInfo, title_from

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


@dataclass(frozen=True)
class SamplerSettings:
    """How a picture is drawn from its voken features; with the seed and the model this fixes the picture."""

    steps: int
    guidance: float
    image_size: int


def load_model(model_dir: Path, sd: str | Path | None = None, quantize: str = "none"):
    """The model `make` and `redraw` draw with (the same call, so a redraw repeats the original picture).

    `quantize` only changes the LLM (minigpt5_core's quantize tiers): the mapper and SD that draw keep their
    precision, so a redraw from saved voken features gives the same picture either way."""
    try:
        from minigpt5_core import MiniGPT5
    except ImportError as e:
        raise StorybookError(f"drawing pictures needs the minigpt5_core library, which failed to import: {e}") from e

    return MiniGPT5.from_pretrained(model_dir, image_generator=sd, quantize=quantize) if sd is not None else \
        MiniGPT5.from_pretrained(model_dir, quantize=quantize)


def sampler_settings(model, steps: int | None, guidance: float | None, image_size: int | None) -> SamplerSettings:
    """The settings given, the model's defaults for the others: the values that are recorded in the manifest."""
    diffusion = model.config.diffusion
    return SamplerSettings(steps=diffusion.num_inference_steps if steps is None else steps,
                           guidance=float(diffusion.guidance_scale if guidance is None else guidance),
                           image_size=image_size or diffusion.resolution)


def check_drawing_options(steps: int | None, guidance: float | None, image_size: int | None) -> None:
    """`--steps`, `--guidance` and `--image-size` as given (None: the model's), checked before any model is
    loaded, by `make` and `redraw` alike; the limits are the model's (`check_picture_settings`)."""
    from minigpt5_core.errors import MiniGPT5Error
    from minigpt5_core.modeling.model import check_picture_settings

    # Each value is checked with valid stand-ins for the others, so the message names the option at fault.
    for option, (s, g, size) in {"--steps": (steps, 1.0, 512), "--guidance": (1, guidance, 512),
                                 "--image-size": (1, 1.0, image_size)}.items():
        if None not in (s, g, size):
            try:
                check_picture_settings(s, g, size, size)
            except MiniGPT5Error as e:
                raise StorybookError(f"{option}: {e}") from None


def draw(model, vokens, seed: int, settings: SamplerSettings):
    """One page's picture from its voken features (1, num_vokens, hidden): `MiniGPT5.render_images`."""
    return model.render_images(vokens, seed=seed, steps=settings.steps, guidance=settings.guidance,
                               height=settings.image_size, width=settings.image_size)[0]


def draw_together(model, vokens, seeds: list[int], settings: SamplerSettings, consistency: float):
    """All pages' pictures (pages, num_vokens, hidden) in ONE batch with StoryDiffusion's consistent
    self-attention at ratio `consistency`: each picture depends on every page's features and seed, so a redraw
    draws the whole batch again (`storybook.redraw`). The sample of shared tokens has a fixed seed (the page
    seeds vary the pictures), so the same seeds repeat the same pictures."""
    from minigpt5_core import ConsistencySettings

    return model.render_images(vokens, seed=seeds, steps=settings.steps, guidance=settings.guidance,
                               height=settings.image_size, width=settings.image_size,
                               consistency=ConsistencySettings(ratio=consistency))


def generate_story(model_dir: str | Path, prompt: str, *, pages: int, seed: int, title: str | None = None,
                   author: str = "MiniGPT-5", steps: int | None = None, guidance: float | None = None,
                   image_size: int | None = None, progress: bool = False,
                   sd: str | Path | None = None, quantize: str = "none", consistency: float = 0.0) -> StoryInput:
    """Continue `prompt` for `pages` pages; page i's picture is drawn with seed `seed + i`.

    `consistency` > 0 draws the pages together so that they share their looks (`draw_together`); 0 draws
    each page on its own, as before.

    `sd` is the Stable Diffusion to draw with when the model folder has no sd/ (or to replace it): a local
    diffusers folder or one original-layout checkpoint file such as v2-1_512-ema-pruned.safetensors.
    `quantize` ("none", "int8", "nf4") loads the LLM in 8 or 4 bits (docs/models.md, "Memory tiers").
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
        model = load_model(model_dir, sd, quantize)
        with tqdm(desc="writing", unit="token", disable=None if progress else True) as bar:
            story = model.story(prompt, pages=pages, seed=seed, on_token=lambda *_: bar.update())
        settings = sampler_settings(model, steps, guidance, image_size)
        vokens = story.vokens  # (pages, 8, H), built once
        if consistency > 0:
            pictures = draw_together(model, vokens, [seed + i for i in range(len(vokens))], settings, consistency)
        else:
            pictures = [draw(model, vokens[i:i + 1], seed + i, settings)
                        for i in tqdm(range(len(vokens)), desc="drawing", unit="page",
                                      disable=None if progress else True)]
        texts = [text.strip() for text in story.texts]
        features = list(vokens.float().cpu().numpy())
    except MiniGPT5Error as e:
        raise StorybookError(str(e)) from e
    info = ModelInfo(name=model_dir.name, checkpoint_hash=checkpoint_hash(model_dir), steps=settings.steps,
                     guidance=settings.guidance, image_size=settings.image_size,
                     consistency=float(consistency) if consistency > 0 else None)
    # The cover shows page 1's picture, so the default title is page 1's opening sentence (not the prompt,
    # which the model continues rather than draws).
    return story_from_pages(texts, pictures, title=title or title_from(texts[0]) or title_from(prompt) or "A story",
                            author=author,
                            seeds=[seed + i for i in range(len(texts))], prompts=[prompt] * len(texts),
                            provenance=[{"source": "minigpt5", "story_seed": seed, "page": i + 1,
                                         **({"stable_diffusion": Path(sd).name} if sd is not None else {})}
                                        for i in range(len(texts))],
                            model=info, features=features)
