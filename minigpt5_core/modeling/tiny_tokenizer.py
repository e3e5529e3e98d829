"""A small byte-level BPE tokenizer trained in-process, for the tiny preset.

No pretrained tokenizer can be downloaded here; tests and the tiny model need a real
`transformers` tokenizer anyway (special tokens, padding, save/load), so we train one with the
`tokenizers` library on a fixed corpus. Byte-level BPE can encode any text, so nothing is "unknown".
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from ..config import VIST_SYSTEM_PROMPT

_CORPUS = [
    VIST_SYSTEM_PROMPT,
    "###Human: Tell me the next scene with image. ###Assistant:",
    "###Human: Generate an image with the scene description: ###Assistant:",
    "###Human: generate image with caption: ###Assistant:",
    "A red circle appears on the left. The blue square moves to the right. The green triangle leaves.",
    "Once upon a time a little fox walked through the forest and met a friendly owl at night.",
    "The family went to the beach. We had a great time. The kids played in the sand all day.",
    "a photo of a dog on the grass, a cat sitting on a sofa, two people walking in the city.",
    "It was a sunny day, and everyone was happy. Then it started to rain, so we went home.",
]

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]


def train_bpe_tokenizer(corpus: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """The one recipe for our small tokenizers: a deterministic byte-level BPE trained on `corpus`, with LLaMA's
    special tokens. The tiny preset and the shapes world both train theirs with it."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def build_tiny_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """The tiny preset's tokenizer (about 0.1 s)."""
    return train_bpe_tokenizer(_CORPUS * 4, vocab_size)
