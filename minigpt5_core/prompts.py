"""Prompt builders: the Vicuna v0 chat template and the CC3M / VIST / MMDialog task formats.

A training sample is a `source` (what the model reads; -100 labels) and a `target` (what it must
write), with input images at each `<ImageHere>` of the source and one output image per voken group
of the target (MINIGPT5_SPEC.md §5).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image

from .config import VIST_SYSTEM_PROMPT
from .errors import MiniGPT5Error
from .tokens import IMAGE_TAG, voken_tokens

NEXT_SCENE_INSTRUCTION = "Tell me the next scene with image."
GEN_INSTRUCTION = "Generate an image with the scene description: {caption}"
UNDERSTAND_INSTRUCTION = "Tell me the scene of this image."
CC3M_CHAT_INSTRUCTION = "generate image with caption: {caption}"


def chat_turn(human: str) -> str:
    """One Vicuna v0 turn; `###` ends a turn and stops generation."""
    return f"###Human: {human} ###Assistant:"


def chat_prompt(human: str, system: str = "") -> str:
    """System prompt + one human turn, ready for the assistant's answer."""
    return f"{system}{chat_turn(human)}"


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
    caption: str, image: Image.Image, *, rng: random.Random, chat_fraction: float = 0.01, num_vokens: int = 8
) -> TrainingSample:
    """Caption -> vokens. Most samples are the bare caption; `chat_fraction` are wrapped in a chat turn."""
    caption = " ".join(caption.split())
    source = chat_prompt(CC3M_CHAT_INSTRUCTION.format(caption=caption)) if rng.random() < chat_fraction else caption
    return TrainingSample(
        source=source, target=f"{voken_group(num_vokens)} ###", output_images=[image], captions=[caption]
    )


def _vist_history(captions: list[str]) -> str:
    return " ".join(f"{c} {IMAGE_TAG}" for c in captions)


def _vist_source(history: list[str], instruction: str, system: str) -> str:
    human = f"{_vist_history(history)} {instruction}".strip()
    return chat_prompt(human, system)


def vist_samples(
    captions: list[str], images: list[Image.Image], task: str, *, system: str = VIST_SYSTEM_PROMPT,
    num_vokens: int = 8,
) -> list[TrainingSample]:
    """All steps of one story for `task` in {"gen", "multimodal", "understanding"}.

    Step k sees the previous captions each followed by its picture (ground-truth history). The samples
    carry no `captions` (a story sentence is not a description of its picture), so L_CAP does not
    apply to them, as in the official VIST loader.
    """
    if len(captions) != len(images):
        raise MiniGPT5Error(f"a story needs one image per caption, got {len(captions)} captions and {len(images)} images")
    group = voken_group(num_vokens)
    samples = []
    for k, caption in enumerate(captions):
        history, history_images = captions[:k], list(images[:k])
        if task == "gen":
            source = _vist_source(history, GEN_INSTRUCTION.format(caption=caption), system)
            samples.append(TrainingSample(source, f"{group} ###", history_images, [images[k]]))
        elif task == "multimodal":
            source = _vist_source(history, NEXT_SCENE_INSTRUCTION, system)
            samples.append(TrainingSample(source, f"{caption} {group} ###", history_images, [images[k]]))
        elif task == "understanding":
            source = _vist_source(history, f"{IMAGE_TAG} {UNDERSTAND_INSTRUCTION}", system)
            samples.append(TrainingSample(source, f"{caption} ###", history_images + [images[k]], []))
        else:
            raise MiniGPT5Error(f"unknown VIST task {task!r}; choose gen, multimodal or understanding")
    return samples


def mmdialog_sample(
    turns: list[tuple[str, Image.Image | None]], *, num_vokens: int = 8
) -> TrainingSample:
    """A dialogue (text, optional picture) per turn; the last turn is the target.

    Earlier pictures are inputs (`<ImageHere>`); a picture in the last turn becomes a voken group.
    Turns alternate Human / Assistant, ending with the Assistant.
    """
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
    source = " ".join(history) + " ###Assistant:"
    answer, answer_image = turns[-1]
    if answer_image is None:
        return TrainingSample(source, f"{answer} ###", inputs, [])
    return TrainingSample(source, f"{answer} {voken_group(num_vokens)} ###".strip(), inputs, [answer_image], None)
