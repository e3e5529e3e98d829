"""VokenToConditioning: MiniGPT-5 picture features -> positive and negative CONDITIONING for SD 2.x."""

from __future__ import annotations

from minigpt5_core.errors import MiniGPT5Error

from .comfy_types import to_conditioning


def voken_conditioning(handle, interleaved, image: int = 0):
    """Positive (one batch item per chosen picture) and MiniGPT-5's learned null as the negative.

    ``image`` 0 takes every picture of the turn, in order (a batch); k >= 1 takes the k-th picture only.
    """
    n = interleaved.num_images
    if n and not 0 <= image <= n:
        raise MiniGPT5Error(f"image {image} does not exist: the text has {n} picture(s); choose 0 (all) or 1..{n}")
    vokens = interleaved.vokens if image == 0 else interleaved.vokens[image - 1:image]
    model = handle.ready()
    positive, negative = model.conditioning(vokens)  # NoPictureError when the turn has no picture
    return to_conditioning(positive), to_conditioning(negative)


class VokenToConditioning:
    DESCRIPTION = ("Turns the pictures MiniGPT-5 planned (its vokens) into Stable Diffusion 2.x conditioning "
                   "through the model's voken mapper. Use the negative output as the KSampler negative: it is the "
                   "'no picture' conditioning the model was trained with. Matching sampler settings: cfg 7.5, "
                   "euler or dpmpp_2m, 25-50 steps, 512x512 with SD 2.1-base.")
    SEARCH_ALIASES = ["vokens", "voken mapper", "minigpt5 conditioning", "interleaved to conditioning"]
    CATEGORY = "MiniGPT-5"
    FUNCTION = "convert"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING")
    RETURN_NAMES = ("positive", "negative")
    OUTPUT_TOOLTIPS = ("One conditioning per chosen picture, batched in order ([N, 77, 1024]).",
                       "MiniGPT-5's learned null conditioning (mapper of zero vokens), batch 1.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "minigpt5": ("MINIGPT5", {"tooltip": "The same model that generated the text (its voken "
                                                     "mapper turns vokens into conditioning)."}),
                "interleaved": ("INTERLEAVED", {"tooltip": "Output of MiniGPT-5 Interleaved Generate or Story."}),
                "image": ("INT", {"default": 0, "min": 0, "max": 64,
                                  "tooltip": "Which picture: 0 = all pictures as a batch (set the latent batch "
                                             "size to match), k = only the k-th picture."}),
            }
        }

    def convert(self, minigpt5, interleaved, image=0):
        return voken_conditioning(minigpt5, interleaved, int(image))
