"""LLaMA's real 32000-piece vocabulary for the tests, fetched from PyPI into the ignored `.cache/` once.

llama.cpp keeps LLaMA's SentencePiece vocabulary (pieces, scores, types; no weights) as
`vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf` in the `llama-cpp-python` source distribution, with
`.inp`/`.out` files of strings and the ids they must give. `pip download` of an sdist prepares its metadata,
which needs its build backend (scikit-build-core): it is installed with `pip install --target` into the cache
and put on PYTHONPATH for that one `pip download --no-build-isolation`. Nothing here is committed.

From the GGUF this builds LLaMA's `tokenizer.model` (sentencepiece's own ModelProto with LLaMA's trainer and
normaliser settings), so that the converter reads a Vicuna folder exactly as it would the real one. A failed
download raises: the tests that need the vocabulary fail loudly instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

LCPP_VERSION = "0.3.36"
SDIST = f"llama_cpp_python-{LCPP_VERSION}.tar.gz"
GGUF_NAME = "ggml-vocab-llama-spm.gguf"
MEMBER_DIR = f"llama_cpp_python-{LCPP_VERSION}/vendor/llama.cpp/models/"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("MINIGPT5_TEST_CACHE", REPO_ROOT / ".cache")) / "llama-vocab"


def _run(cmd: list[str], env: dict | None = None) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, env=env)


def _download_sdist() -> Path:
    sdist = CACHE_DIR / "sdist" / SDIST
    if sdist.is_file():
        return sdist
    tools = CACHE_DIR / "build-backend"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    if not (tools / "scikit_build_core").is_dir():
        _run(pip + ["install", "--target", str(tools), "scikit-build-core"])
    env = {**os.environ, "PYTHONPATH": str(tools)}
    _run(pip + ["download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
                f"llama-cpp-python=={LCPP_VERSION}", "-d", str(sdist.parent)], env=env)
    if not sdist.is_file():
        raise RuntimeError(f"pip download llama-cpp-python=={LCPP_VERSION} left no {SDIST} in {sdist.parent}")
    return sdist


def vocab_dir() -> Path:
    """The folder holding the GGUF vocabulary and its `.inp`/`.out` test files (extracted once)."""
    target = CACHE_DIR / "vocab"
    if (target / GGUF_NAME).is_file() and (target / f"{GGUF_NAME}.out").is_file():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    sdist = _download_sdist()
    tmp = Path(tempfile.mkdtemp(prefix="extract-", dir=CACHE_DIR))
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            for suffix in ("", ".inp", ".out"):
                member = tar.getmember(MEMBER_DIR + GGUF_NAME + suffix)
                with tar.extractfile(member) as src, open(tmp / (GGUF_NAME + suffix), "wb") as dst:
                    shutil.copyfileobj(src, dst)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def llama_cpp_cases(folder: Path) -> list[tuple[str, list[int]]]:
    """llama.cpp's test strings and the ids sentencepiece gives them (`.inp` / `.out`)."""
    inputs = (folder / f"{GGUF_NAME}.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    outputs = (folder / f"{GGUF_NAME}.out").read_text(encoding="utf-8").strip("\n").split("\n")
    return [(text, [int(i) for i in ids.split()]) for text, ids in zip(inputs, outputs)]


def write_sentencepiece_model(folder: Path, out: Path) -> Path:
    """LLaMA's `tokenizer.model` from the GGUF: its pieces, scores and types, LLaMA's BPE settings."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    vocab = load_gguf_checkpoint(str(folder / GGUF_NAME), return_tensors=False)["tokenizer"]
    model = pb.ModelProto()
    spec = model.trainer_spec
    spec.model_type = pb.TrainerSpec.BPE
    spec.vocab_size = len(vocab["tokens"])
    spec.byte_fallback, spec.split_digits, spec.allow_whitespace_only_pieces = True, True, True
    spec.split_by_whitespace, spec.split_by_number, spec.split_by_unicode_script = True, True, True
    spec.max_sentencepiece_length, spec.character_coverage = 16, 0.99995
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = 0, 1, 2, -1
    norm = model.normalizer_spec
    norm.name, norm.add_dummy_prefix, norm.remove_extra_whitespaces, norm.escape_whitespaces = "identity", True, False, True
    for piece, score, kind in zip(vocab["tokens"], vocab["scores"], vocab["token_type"]):
        entry = model.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = kind  # GGUF token types use sentencepiece's numbering (1 normal, 2 unknown, 3 control, 6 byte)
    out.write_bytes(model.SerializeToString())
    return out
