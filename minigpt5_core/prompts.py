"""Prompt builders: the Vicuna v0 chat template and the CC3M / VIST / MMDialog task formats.

A training sample is a `source` (what the model reads; -100 labels) and a `target` (what it must
write), with input images at each `<ImageHere>` of the source and one output image per voken group
of the target (MINIGPT5_SPEC.md §5).

Every builder takes a `style` (`MiniGPT5Config.prompt_style`): "official" writes the strings of the official
loaders (eric-ai-lab/MiniGPT-5 dataloader.py at 915ab17, first prompt variant of each task), "v0.1" those this
project's first release trained with (the bundled toy model). The official VIST turn has no space after
`###Human:`, and its history is the captions each followed by its picture, glued, ending in a newline.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from PIL import Image

from .config import VIST_SYSTEM_PROMPT, check_prompt_style
from .errors import MiniGPT5Error
from .tokens import IMAGE_PLACEHOLDER, IMAGE_TAG, voken_tokens

NEXT_SCENE_INSTRUCTION = "Tell me the next scene with image."
GEN_INSTRUCTION = "Generate an image with the scene description: {caption}"
UNDERSTAND_INSTRUCTION = "Tell me the scene of this image."
OFFICIAL_UNDERSTAND_INSTRUCTION = "Tell me the next scene description by this image: " + IMAGE_TAG
CC3M_CHAT_INSTRUCTION = "generate image with caption: {caption}"
CC3M_SYSTEM_PROMPT = "You will be able to generate image according to command."
MMDIALOG_SYSTEM_PROMPT = (
    "Give the following images in <Img>ImageContent</Img> format. You will be able to see the images "
    "once I provide it to you. Please generate conversations with appropriate images."
)


def chat_turn(human: str) -> str:
    """One Vicuna v0 turn; `###` ends a turn and stops generation."""
    return f"###Human: {human} ###Assistant:"


def chat_prompt(human: str, system: str = "") -> str:
    """System prompt + one human turn, ready for the assistant's answer."""
    return f"{system}{chat_turn(human)}"


def vist_turn(human: str) -> str:
    """The official VIST turn: `###Human:` glued to the history (its instruction brings its own space)."""
    return f"###Human:{human} ###Assistant:"


check_style = check_prompt_style


def chat_message(prompt: str, num_images: int, system: str, style: str = "official") -> str:
    """A user's message (pictures given without placeholders go first) as one turn of `style`.

    Official: the pictures as a VIST history (`<Img><ImageHere></Img>` each, then a newline) and the message
    after it, as examples/playground.py writes its prompt; a message with its own placeholders is used as the
    history itself. v0.1: `<Img>` tags and the message joined by spaces in a `###Human: ` turn.
    """
    check_style(style)
    prompt = prompt.strip()
    if style == "official":
        if IMAGE_PLACEHOLDER in prompt:
            return f"{system}{vist_turn(prompt)}"
        history = IMAGE_TAG * num_images + "\n" if num_images else ""
        return f"{system}{vist_turn(f'{history} {prompt}')}"
    if num_images and IMAGE_PLACEHOLDER not in prompt:
        prompt = " ".join([IMAGE_TAG] * num_images + [prompt])
    return chat_prompt(prompt, system)


def pre_caption(caption: str) -> str:
    """The official CC3M caption cleaning (dataloader.py `pre_caption`): lower case, `.!"()*#:;~` -> space."""
    caption = re.sub(r"([.!\"()*#:;~])", " ", caption.lower())
    caption = re.sub(r"\s{2,}", " ", caption)
    return caption.rstrip("\n").strip(" ")


def voken_group(num_vokens: int = 8) -> str:
    return "".join(voken_tokens(num_vokens))


@dataclass
class TrainingSample:
    """One sample of any task, ready for `MiniGPT5.losses`.

    `input_images[i]` replaces the i-th `<ImageHere>` of `source`; `output_images[j]` is the picture
    the j-th voken group of `target` must produce; `captions[j]` (optional) its caption, for L_CAP.
    """

    source: str
    target: str
    input_images: list[Image.Image] = field(default_factory=list)
    output_images: list[Image.Image] = field(default_factory=list)
    captions: list[str] | None = None


def cc3m_sample(
    caption: str, image: Image.Image, *, rng: random.Random, chat_fraction: float = 0.01, num_vokens: int = 8,
    style: str = "official",
) -> TrainingSample:
    """Caption -> vokens. Most samples are the bare caption; `chat_fraction` are wrapped in a chat turn.

    Official: the caption cleaned by `pre_caption`, the chat turn after the instruction system prompt.
    """
    check_style(style)
    official = style == "official"
    caption = pre_caption(caption) if official else " ".join(caption.split())
    system = CC3M_SYSTEM_PROMPT if official else ""
    wrap = rng.random() < chat_fraction
    source = chat_prompt(CC3M_CHAT_INSTRUCTION.format(caption=caption), system) if wrap else caption
    return TrainingSample(
        source=source, target=f"{voken_group(num_vokens)} ###", output_images=[image], captions=[caption]
    )


def _vist_source(history: list[str], instruction: str, system: str, style: str) -> str:
    if style == "official":
        glued = IMAGE_TAG.join(history) + IMAGE_TAG + "\n" if history else ""
        return f"{system}{vist_turn(f'{glued} {instruction}')}"
    joined = " ".join(f"{c} {IMAGE_TAG}" for c in history)
    return chat_prompt(f"{joined} {instruction}".strip(), system)


def vist_samples(
    captions: list[str], images: list[Image.Image], task: str, *, system: str = VIST_SYSTEM_PROMPT,
    num_vokens: int = 8, style: str = "official",
) -> list[TrainingSample]:
    """All steps of one story for `task` in {"gen", "multimodal", "understanding"}.

    Step k sees the previous captions each followed by its picture (ground-truth history). The samples
    carry no `captions` (a story sentence is not a description of its picture), so L_CAP does not
    apply to them, as in the official VIST loader. (The official loader has no multimodal or
    understanding sample at step 0; here every step has one.)
    """
    check_style(style)
    if len(captions) != len(images):
        raise MiniGPT5Error(f"a story needs one image per caption, got {len(captions)} captions and {len(images)} images")
    group = voken_group(num_vokens)
    samples = []
    for k, caption in enumerate(captions):
        history, history_images = captions[:k], list(images[:k])
        if task == "gen":
            source = _vist_source(history, GEN_INSTRUCTION.format(caption=caption), system, style)
            samples.append(TrainingSample(source, f"{group} ###", history_images, [images[k]]))
        elif task == "multimodal":
            source = _vist_source(history, NEXT_SCENE_INSTRUCTION, system, style)
            samples.append(TrainingSample(source, f"{caption} {group} ###", history_images, [images[k]]))
        elif task == "understanding":
            instruction = OFFICIAL_UNDERSTAND_INSTRUCTION if style == "official" else f"{IMAGE_TAG} {UNDERSTAND_INSTRUCTION}"
            source = _vist_source(history, instruction, system, style)
            samples.append(TrainingSample(source, f"{caption} ###", history_images + [images[k]], []))
        else:
            raise MiniGPT5Error(f"unknown VIST task {task!r}; choose gen, multimodal or understanding")
    return samples


def mmdialog_sample(
    turns: list[tuple[str, Image.Image | None]], *, num_vokens: int = 8, style: str = "official"
) -> TrainingSample:
    """A dialogue (text, optional picture) per turn; the last turn is the target.

    Earlier pictures are inputs (`<ImageHere>`); a picture in the last turn becomes a voken group.
    Turns alternate Human / Assistant, ending with the Assistant. Official: after the MMDialog system
    prompt (the official loader also cuts the history to the last two Human turns; here it is kept whole).
    """
    check_style(style)
    if len(turns) < 2:
        raise MiniGPT5Error("an MMDialog sample needs at least one turn of history and one answer")
    history, inputs = [], []
    roles = ["Human", "Assistant"]
    offset = (len(turns) - 1) % 2  # so that the last turn is the Assistant's
    for i, (text, image) in enumerate(turns[:-1]):
        piece = text
        if image is not None:
            piece = f"{text} {IMAGE_TAG}".strip()
            inputs.append(image)
        history.append(f"###{roles[(i + offset + 1) % 2]}: {piece}")
    if style == "official":
        history.insert(0, MMDIALOG_SYSTEM_PROMPT)
    source = " ".join(history) + " ###Assistant:"
    answer, answer_image = turns[-1]
    if answer_image is None:
        return TrainingSample(source, f"{answer} ###", inputs, [])
    return TrainingSample(source, f"{answer} {voken_group(num_vokens)} ###".strip(), inputs, [answer_image], None)
