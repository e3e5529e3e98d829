"""InterleavedGenerate (one assistant turn) and MiniGPT5Story (N pages, one batched conditioning)."""

from __future__ import annotations

from minigpt5_core.config import GenerationConfig

from .comfy_types import TokenProgress, images_to_pil, to_conditioning
from .pages import join_pages

SEED_MAX = 0xFFFFFFFFFFFFFFFF
SAMPLING = GenerationConfig()  # the official demo's temperature and top_p are the widgets' defaults

_MODEL = ("MINIGPT5", {"tooltip": "The model from Load MiniGPT-5."})
_IMAGES = ("IMAGE", {"tooltip": "Optional pictures the model sees before your text, in batch order (combine "
                                "several with Batch Images). They are the conversation or story so far."})


def _sampling_inputs(max_tokens_default: int, max_tokens_tooltip: str) -> dict:
    return {
        "seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True,
                         "tooltip": "Seed of the token sampler: the same seed and inputs give the same text "
                                    "and vokens."}),
        "max_new_tokens": ("INT", {"default": max_tokens_default, "min": 1, "max": 1024,
                                   "tooltip": max_tokens_tooltip}),
        "temperature": ("FLOAT", {"default": SAMPLING.temperature, "min": 0.0, "max": 2.0, "step": 0.05,
                                  "tooltip": "Sampling temperature; 0 picks the most likely token (greedy)."}),
        "top_p": ("FLOAT", {"default": SAMPLING.top_p, "min": 0.05, "max": 1.0, "step": 0.05,
                            "tooltip": "Nucleus sampling: sample from the smallest set of tokens whose "
                                       f"probabilities add up to top_p ({SAMPLING.top_p} as in the official "
                                       "demo)."}),
    }


# ---- plain functions (the node logic) -----------------------------------------------------------------

def interleaved_generate(handle, prompt: str, seed: int, max_new_tokens: int, temperature: float, top_p: float,
                         force_image: bool, images=None):
    """One turn: returns (InterleavedResult, text)."""
    model = handle.ready()
    progress = TokenProgress(max_new_tokens)
    result = model.generate(prompt, images_to_pil(images) or None, seed=int(seed), max_new_tokens=int(max_new_tokens),
                            force_image=bool(force_image), temperature=float(temperature), top_p=float(top_p),
                            on_token=progress)
    progress.done()
    return result, result.text


def story_pages(handle, opening: str, pages: int, seed: int, max_new_tokens: int, temperature: float,
                top_p: float, images=None):
    """Continue a story: returns (page texts, positive, negative, the whole story as one INTERLEAVED, the
    number of pages). The page count goes out as well so that the latent batch size can be wired to it: the
    number of pages is then set in one place."""
    model = handle.ready()
    progress = TokenProgress(int(pages) * int(max_new_tokens))
    story = model.story(opening, pages=int(pages), seed=int(seed), images=images_to_pil(images) or None,
                        max_new_tokens_per_page=int(max_new_tokens), temperature=float(temperature),
                        top_p=float(top_p), on_token=progress)
    progress.done()
    positive, negative = model.conditioning(story.vokens)
    return (join_pages(story.texts), to_conditioning(positive), to_conditioning(negative), story.whole,
            len(story.texts))


# ---- nodes ------------------------------------------------------------------------------------------------

class InterleavedGenerate:
    DESCRIPTION = ("One MiniGPT-5 assistant turn: continues your prompt (and optional pictures) with text and "
                   "pictures. Pictures come out as vokens: connect INTERLEAVED to 'MiniGPT-5 Vokens to "
                   "Conditioning' and a KSampler with an SD 2.1 model to draw them.")
    SEARCH_ALIASES = ["chat", "text and image", "interleaved", "vokens", "multimodal llm", "minigpt5"]
    CATEGORY = "MiniGPT-5"
    FUNCTION = "generate"
    RETURN_TYPES = ("INTERLEAVED", "STRING")
    RETURN_NAMES = ("interleaved", "text")
    OUTPUT_TOOLTIPS = ("The turn as text and picture features (vokens), in order.",
                       "The turn's text alone.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "minigpt5": _MODEL,
                "prompt": ("STRING", {"multiline": True, "default": "Tell me a story about a red fox. Show me "
                                                                   "the first scene with an image.",
                                      "tooltip": "What you say to the model (the chat template is added)."}),
                **_sampling_inputs(96, "Most tokens to generate in this turn (a picture costs 8 tokens)."),
                "force_image": ("BOOLEAN", {"default": True,
                                            "tooltip": "Make sure the turn contains at least one picture (as "
                                                       "the official demo's force-generation option)."}),
            },
            "optional": {"images": _IMAGES},
        }

    def generate(self, minigpt5, prompt, seed, max_new_tokens, temperature, top_p, force_image, images=None):
        return interleaved_generate(minigpt5, prompt, seed, max_new_tokens, temperature, top_p, force_image, images)


class MiniGPT5Story:
    DESCRIPTION = ("Continues a story for N pages, each with text and one picture, and returns ONE batched "
                   "positive/negative conditioning for all pages: wire page_count into the Empty Latent Image "
                   "batch_size and a single KSampler draws the whole story (page i = batch item i).")
    SEARCH_ALIASES = ["story", "storybook", "picture book", "pages", "interleaved story", "minigpt5"]
    CATEGORY = "MiniGPT-5"
    FUNCTION = "story"
    # Outputs are positional in saved workflows: new ones are only ever appended.
    RETURN_TYPES = ("STRING", "CONDITIONING", "CONDITIONING", "INTERLEAVED", "INT")
    RETURN_NAMES = ("pages", "positive", "negative", "interleaved", "page_count")
    OUTPUT_TOOLTIPS = (
        "The page texts, one page per line (the format Save Storybook reads).",
        "Picture conditioning for every page, batched in page order ([pages, 77, 1024]).",
        "MiniGPT-5's learned 'no picture' conditioning (what it was trained with as the negative).",
        "The whole story as one INTERLEAVED (e.g. to redraw page k with Vokens to Conditioning).",
        "The number of pages: connect it to Empty Latent Image's batch_size so the page count is set only here.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "minigpt5": _MODEL,
                "opening": ("STRING", {"multiline": True, "default": "Once upon a time, a little red fox lived "
                                                                    "at the edge of a snowy forest.",
                                       "tooltip": "The start of the story; the model writes the pages after it."}),
                "pages": ("INT", {"default": 4, "min": 1, "max": 32,
                                  "tooltip": "Number of pages to write (each gets text and one picture)."}),
                **_sampling_inputs(64, "Most tokens per page, the picture's 8 vokens included."),
            },
            "optional": {"images": _IMAGES},
        }

    def story(self, minigpt5, opening, pages, seed, max_new_tokens, temperature, top_p, images=None):
        return story_pages(minigpt5, opening, pages, seed, max_new_tokens, temperature, top_p, images)
