"""The 9 new tokens and the tokenizer checks around them.

MiniGPT-5 appends `[IMG0]`..`[IMG7]` (generative vokens) and `<ImageHere>` (input-image placeholder)
to the LLM vocabulary as ids V-9..V-1. The official code silently produced no image when a newer
tokenizer split `[IMG0]` into pieces; `check_tokenizer` makes that a loud error at load time.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

from .errors import MiniGPT5Error

IMAGE_PLACEHOLDER = "<ImageHere>"
IMAGE_TAG = "<Img><ImageHere></Img>"


def voken_tokens(num_vokens: int) -> list[str]:
    return [f"[IMG{i}]" for i in range(num_vokens)]


def new_tokens(num_vokens: int) -> list[str]:
    """The tokens MiniGPT-5 adds, in the order of their ids."""
    return voken_tokens(num_vokens) + [IMAGE_PLACEHOLDER]


@dataclass(frozen=True)
class SpecialIds:
    """Token ids the model logic needs, read once from a checked tokenizer."""

    vokens: tuple[int, ...]
    image_placeholder: int
    eos: int
    bos: int
    pad: int

    @property
    def first_voken(self) -> int:
        return self.vokens[0]

    @property
    def new_rows(self) -> list[int]:
        """Rows of embed_tokens / lm_head that MiniGPT-5 trains."""
        return [*self.vokens, self.image_placeholder]


def add_new_tokens(tokenizer: "PreTrainedTokenizerBase", num_vokens: int, *, strip_whitespace: bool = False) -> None:
    """Append the 9 tokens as special tokens (never split, never normalised).

    `strip_whitespace` makes each token swallow the whitespace (newlines too) on both of its sides, as the
    official code's slow tokenizer does with tokens added by name: `" [IMG0]"` and `"[IMG0]"` tokenise alike,
    and `"<ImageHere>\\n Tell"` gives `<ImageHere> ▁Tell`. Converted official models are made with it; the
    models this project trains keep the whitespace (the bundled toy model was trained so).
    """
    missing = [t for t in new_tokens(num_vokens) if t not in tokenizer.get_vocab()]
    if missing:
        from tokenizers import AddedToken

        tokens: list = list(missing)
        if strip_whitespace:
            tokens = [AddedToken(t, lstrip=True, rstrip=True, normalized=False, special=True) for t in missing]
        tokenizer.add_special_tokens({"additional_special_tokens": tokens}, **_keep_existing_special_tokens(tokenizer))


def _keep_existing_special_tokens(tokenizer: "PreTrainedTokenizerBase") -> dict:
    """The keyword that makes ``add_special_tokens`` append instead of replacing the extra special tokens
    already there: transformers 5 renamed it (``replace_additional_special_tokens`` in 4.x)."""
    accepted = inspect.signature(tokenizer.add_special_tokens).parameters
    for name in ("replace_extra_special_tokens", "replace_additional_special_tokens"):
        if name in accepted:
            return {name: False}
    return {}


def check_tokenizer(tokenizer: "PreTrainedTokenizerBase", num_vokens: int, vocab_size: int | None = None) -> SpecialIds:
    """Verify each new token is ONE id at the end of the vocabulary; return the ids.

    `vocab_size` is the number of rows of the model's embedding matrix, when known.
    """
    ids = []
    for token in new_tokens(num_vokens):
        pieces = tokenizer(token, add_special_tokens=False).input_ids
        if len(pieces) != 1:
            raise MiniGPT5Error(
                f"the tokenizer splits {token!r} into {len(pieces)} ids {pieces}; MiniGPT-5 needs each of "
                f"{', '.join(new_tokens(num_vokens))} to be one token. Add them as special tokens "
                "(minigpt5_core.tokens.add_new_tokens) and save the tokenizer with the model."
            )
        ids.append(pieces[0])
    total = len(tokenizer)
    expected = list(range(total - len(ids), total))
    if ids != expected:
        raise MiniGPT5Error(
            f"the new tokens have ids {ids} but MiniGPT-5 expects them as the last {len(ids)} ids "
            f"{expected[0]}..{expected[-1]} of a {total}-token vocabulary"
        )
    if vocab_size is not None and vocab_size != total:
        raise MiniGPT5Error(
            f"the tokenizer has {total} tokens but the model's embedding matrix has {vocab_size} rows; "
            "use the tokenizer saved with these weights"
        )
    eos = tokenizer.eos_token_id
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    if eos is None:
        raise MiniGPT5Error("the tokenizer defines no end-of-sequence token; MiniGPT-5 needs one")
    return SpecialIds(vokens=tuple(ids[:-1]), image_placeholder=ids[-1], eos=eos, bos=bos, pad=pad)
