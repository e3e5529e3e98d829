"""Vicuna's `tokenizer.model` as a fast tokenizer that splits text as the official code's tokenizer does.

The official code tokenises with transformers 4.31's slow `LlamaTokenizer(legacy=True)`, i.e. sentencepiece
itself, piece by piece between added tokens. Two things of that behaviour are lost when transformers 5
converts the file the usual way (`AutoTokenizer` on the folder), and are kept here:

- BPE merges ranked by the pieces' scores, as sentencepiece merges. The usual conversion ranks merges by
  the merged piece's id, so `▁▁` (id 259) merges first, although LLaMA scores every whitespace-only piece
  -1e9 so that sentencepiece merges it last: `"Human:  Yes"` must give `▁ ▁Yes` (29871 3869), not `▁▁ Yes`.
  The merges come from transformers' own `generate_merges` with the scores, as its GGUF loader builds them.
- a dummy `▁` before every piece of text, also right after an added token (`[IMG7]###` -> `▁###` = 835).
  sentencepiece's normaliser is a `Prepend("▁")` + `Replace(" ", "▁")` normaliser, which the tokenizers
  library applies to each piece of text between added tokens (transformers 4.x's legacy Llama fast
  tokenizer had the same normaliser); `Metaspace` would skip the `▁` where a piece starts with a space.

Measured on 378 strings with LLaMA's real vocabulary (shared/tools/parity): identical ids to the official
slow tokenizer on all 378; `AutoTokenizer`'s conversion agrees on 299.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MiniGPT5Error

SENTENCEPIECE_FILE = "tokenizer.model"


def has_sentencepiece_model(folder: str | Path) -> bool:
    return (Path(folder) / SENTENCEPIECE_FILE).is_file()


def _merges_by_score(vocab: dict[str, int], scores: dict[str, float]) -> list[tuple[str, str]]:
    """transformers' own merge generation (best score first), where each major keeps it."""
    try:
        from transformers.tokenization_utils_base import generate_merges  # transformers 5
    except ImportError:
        from transformers.convert_slow_tokenizer import generate_merges  # transformers 4.x
    return generate_merges(vocab, scores)


def sentencepiece_tokenizer(model_file: str | Path):
    """A `PreTrainedTokenizerFast` with the pieces, ids and merge order of the sentencepiece BPE `model_file`."""
    try:
        import sentencepiece
    except ImportError:
        raise MiniGPT5Error(
            f"reading {model_file} needs the sentencepiece package; install it with: pip install sentencepiece"
        ) from None
    from tokenizers import Tokenizer, decoders, models, normalizers
    from transformers import PreTrainedTokenizerFast

    try:
        sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
    except (OSError, RuntimeError) as exc:
        raise MiniGPT5Error(f"{model_file} is not a sentencepiece model ({exc}); give Vicuna's tokenizer.model") from None
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    # sentencepiece never builds control, unknown or byte pieces out of text: no merge may make them
    scores = {piece: sp.get_score(i) for i, piece in enumerate(pieces)
              if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))}
    special = {name: pieces[i] for name, i in (("unk_token", sp.unk_id()), ("bos_token", sp.bos_id()),
                                               ("eos_token", sp.eos_id())) if 0 <= i < len(pieces)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=_merges_by_score(vocab, scores), unk_token=special.get("unk_token"),
                                   fuse_unk=True, byte_fallback=True))
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    backend.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(content=" ", left=1)])
    # the generic class keeps this backend when the folder is read again (LlamaTokenizer would rebuild its own)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **special)
