"""ConsistentStoryPages: a MODEL whose pictures of one batch share their looks (StoryDiffusion's method).

The maths is minigpt5_core.modeling.consistency; this module only adapts it to ComfyUI's attn1 patch, which
every transformer block calls with its self-attention input and may hand back another key/value context. The
patch is installed on a clone of the MODEL (`ModelPatcher.set_model_attn1_patch`), so the stock KSampler, other
patches (they run in a chain) and any SD 2.x checkpoint keep working, and ComfyUI's modules are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LAST_STEP = 10000  # the end_step widget's "to the last step", as KSamplerAdvanced's end_at_step


def step_of(extra_options: dict) -> int | None:
    """The sampling step of this model call: the nearest of the sampler's sigmas (None if not told)."""
    sigmas, schedule = extra_options.get("sigmas"), extra_options.get("sample_sigmas")
    if sigmas is None or schedule is None:
        return None
    return int((schedule.to(sigmas.device) - sigmas.reshape(-1)[0]).abs().argmin())


@dataclass(frozen=True)
class ConsistentSelfAttentionPatch:
    """ComfyUI attn1_patch: in the output (up) blocks, page i's keys/values also get the other pages' sampled
    tokens. The batch is one chunk of `pages` rows per entry of `cond_or_uncond` (ComfyUI batches cond and
    uncond like that), so a latent batch of 1 is left alone."""

    settings: Any  # minigpt5_core ConsistencySettings

    def __call__(self, n, context, value, extra_options: dict):
        from minigpt5_core.modeling.consistency import consistent_context

        block = extra_options.get("block")
        step = step_of(extra_options)
        if not block or block[0] != "output" or step is None:
            return n, context, value
        pages = context.shape[0] // max(1, len(extra_options.get("cond_or_uncond") or [0]))
        layer = f"output.{block[1]}.{extra_options.get('block_index', 0)}"
        borrowed = consistent_context(context, pages, step, self.settings, layer)
        if borrowed is None:
            return n, context, value
        same = value is context
        return n, borrowed, borrowed if same else consistent_context(value, pages, step, self.settings, layer)


def consistent_model(model, ratio: float, start_step: int = 1, end_step: int = LAST_STEP, sample_seed: int = 0):
    """A clone of `model` patched for consistent pages; ratio 0 returns `model` itself (nothing to change)."""
    from minigpt5_core.errors import MiniGPT5Error
    from minigpt5_core.modeling.consistency import ConsistencySettings

    settings = ConsistencySettings(ratio=float(ratio), start_step=int(start_step), seed=int(sample_seed),
                                   end_step=None if int(end_step) >= LAST_STEP else int(end_step))
    try:
        settings.validate()
    except MiniGPT5Error as e:
        raise MiniGPT5Error(f"Consistent Story Pages: {e}") from None
    if not settings.enabled:
        return model
    patched = model.clone()
    patched.set_model_attn1_patch(ConsistentSelfAttentionPatch(settings))
    return patched


class ConsistentStoryPages:
    DESCRIPTION = ("Makes the pages of a story drawn in ONE batch look alike (the same hero on every page): in "
                   "the UNet's up-block self-attention each picture also attends to a random sample of the other "
                   "pictures' tokens (StoryDiffusion's consistent self-attention, training-free). Put it between "
                   "the checkpoint loader and the KSampler; the latent batch size is the page count. Costs "
                   "attention time and memory: keys/values grow by 1 + ratio x (pages - 1).")
    SEARCH_ALIASES = ["storydiffusion", "consistent self-attention", "consistent characters", "same character",
                      "story consistency"]
    CATEGORY = "MiniGPT-5"
    FUNCTION = "patch"
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The same model, patched: pages drawn together in one batch share their looks.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The SD 2.x model that draws the pages (any checkpoint)."}),
                "ratio": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05,
                                    "tooltip": "Share of each other page's tokens a page attends to: 0 = off "
                                               "(exactly the unpatched pictures), 0.5 = the authors' default."}),
                "start_step": ("INT", {"default": 1, "min": 0, "max": LAST_STEP,
                                       "tooltip": "First sampling step that shares (the authors skip step 0, "
                                                  "where the layout forms)."}),
                "end_step": ("INT", {"default": LAST_STEP, "min": 1, "max": LAST_STEP,
                                     "tooltip": f"Step to stop sharing at ({LAST_STEP} = the last step)."}),
                "sample_seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF,
                                        "tooltip": "Seed of the random token sample: the same seed gives the "
                                                   "same pictures."}),
            }
        }

    def patch(self, model, ratio, start_step, end_step, sample_seed):
        return (consistent_model(model, ratio, start_step, end_step, sample_seed),)
