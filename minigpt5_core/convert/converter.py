"""Official MiniGPT-5 files -> ONE model folder that `MiniGPT5.from_pretrained` loads.

    python -m minigpt5_core.convert --stage1 stage1_cc3m.ckpt [--stage2 stage2_vist.ckpt] \\
        --vicuna vicuna-7b-v0/ --eva-vit eva_vit_g.pth --blip2 blip2_pretrained_flant5xxl.pth \\
        --minigpt4 pretrained_minigpt4.pth --out models/minigpt5-vist [--keep-lora] [--first-token eos|bos] \\
        [--dtype bf16|fp16|fp32]

Each part comes from the file that holds it (see `official.py` for the key names). Shapes are
read from the files, so the configuration written is the one the weights have. Tensors are
streamed from memory-mapped inputs to safetensors shards: conversion never holds the whole model.
Pickled inputs are only read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..config import MiniGPT5Config, check_prompt_style
from ..errors import MiniGPT5Error
from ..cli import ArgumentParser, run_cli
from ..io.folder import check_model_target, write_config, write_folder
from ..io.readers import read_pickle
from ..io.weights import DEFAULT_SHARD_BYTES, write_weights
from ..layout import CONFIG_FILE, CONVERSION_FILE, TOKENIZER_DIR, OfficialPaths
from ..modeling.model import MiniGPT5
from ..modeling.pretrained import model_state
from ..tokens import add_new_tokens, check_tokenizer, new_tokens
from . import official
from .tokenizer import SENTENCEPIECE_FILE, has_sentencepiece_model, sentencepiece_tokenizer

logger = logging.getLogger(__name__)

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
Progress = Callable[[int, int, str], None]  # (done, total, what)


@dataclass
class ConvertOptions:
    merge_lora: bool = True  # fold stage 2's LoRA into q_proj / v_proj; False keeps it as a peft adapter
    first_token: str = "eos"  # the released checkpoints were trained with </s> first ("eos")
    dtype: str = "bf16"
    max_shard_bytes: int = DEFAULT_SHARD_BYTES
    vision_layers: int | None = None  # default: the EVA file's blocks minus one, as BLIP-2 does (40 -> 39)
    prompt_style: str = "official"  # the official formats (config.py PROMPT_STYLES); part of the fingerprint
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.dtype not in DTYPES:
            raise MiniGPT5Error(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        if self.first_token not in ("eos", "bos"):
            raise MiniGPT5Error(f"first_token must be 'eos' (official checkpoints) or 'bos', not {self.first_token!r}")
        check_prompt_style(self.prompt_style)


# ---- reading and checking the inputs ------------------------------------------------------------


def _read_minigpt5(paths: OfficialPaths) -> tuple[dict, dict | None]:
    stage1 = read_pickle(paths.stage1, "MiniGPT-5 stage-1 checkpoint")
    if official.checkpoint_stage(stage1) == 2:
        raise MiniGPT5Error(
            f"{paths.stage1} is a stage-2 checkpoint, given where stage 1 is expected. A stage-2 file has no fc.* "
            "and no t2i_decoder_prompt: those come from stage 1. Pass stage1_cc3m.ckpt as the stage-1 file and this "
            "file as the stage-2 file."
        )
    stage2 = None
    if paths.stage2 is not None:
        stage2 = read_pickle(paths.stage2, "MiniGPT-5 stage-2 checkpoint")
        if official.checkpoint_stage(stage2) != 2:
            raise MiniGPT5Error(
                f"{paths.stage2} is a stage-1 checkpoint, given as the stage-2 file; pass stage2_vist.ckpt or "
                "stage2_mmdialog.ckpt there (or leave it out to convert stage 1 alone)"
            )
    for state, path, stage in ((stage1, paths.stage1, 1), (stage2, paths.stage2, 2)):
        if state is None:
            continue
        unexpected = sorted(k for k in state if not official.known_checkpoint_key(k, stage))
        if unexpected:
            raise MiniGPT5Error(
                f"{path} has {len(unexpected)} unexpected keys for a stage-{stage} MiniGPT-5 checkpoint "
                f"({', '.join(unexpected[:8])}); is it an official MiniGPT-5 file?"
            )
    return stage1, stage2


def _load_tokenizer(folder: Path, vocab_rows: int, num_vokens: int):
    """The official tokenizer's behaviour: Vicuna's `tokenizer.model` rebuilt with sentencepiece's merge order
    (`convert.tokenizer`), the 9 new tokens swallowing the whitespace around them as the official slow
    tokenizer's added tokens do. A folder without `tokenizer.model` is read as it is."""
    from transformers import AutoTokenizer

    if not Path(folder).is_dir():
        raise MiniGPT5Error(f"tokenizer folder {folder} does not exist; give the Vicuna folder (it holds tokenizer.model)")
    if has_sentencepiece_model(folder):
        tokenizer = sentencepiece_tokenizer(Path(folder) / SENTENCEPIECE_FILE)
    else:
        logger.warning("%s has no %s: its tokenizer is used as it is, which may split text unlike the official "
                       "code's sentencepiece tokenizer", folder, SENTENCEPIECE_FILE)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except ImportError as exc:
            raise MiniGPT5Error(
                f"reading the tokenizer in {folder} needs extra packages ({str(exc).strip().splitlines()[0]}); "
                "install them with: pip install sentencepiece protobuf"
            ) from None
        except (OSError, ValueError) as exc:
            raise MiniGPT5Error(f"no tokenizer could be read from {folder} ({exc}); give the Vicuna folder with tokenizer.model") from None
    vocab = tokenizer.get_vocab()
    missing = [t for t in new_tokens(num_vokens) if t not in vocab]
    expected_rows = len(tokenizer) + len(missing)
    if expected_rows != vocab_rows:
        raise MiniGPT5Error(
            f"the tokenizer in {folder} has {len(tokenizer)} tokens; with the {len(missing)} MiniGPT-5 tokens it "
            f"still lacks that makes {expected_rows}, but the checkpoint's embedding matrix has {vocab_rows} rows. "
            f"Use the tokenizer the checkpoint was trained with (Vicuna v0 7B: {vocab_rows - len(new_tokens(num_vokens))} tokens)."
        )
    add_new_tokens(tokenizer, num_vokens, strip_whitespace=True)
    check_tokenizer(tokenizer, num_vokens, vocab_rows)
    return tokenizer


def _infer_config(
    stage1: dict, main: dict, main_stage: int, eva: dict, blip2: dict, llama: dict, vocab_rows: int,
    options: ConvertOptions,
) -> MiniGPT5Config:
    """The official preset, with every shape that the files determine read from the files."""
    config = MiniGPT5Config.preset("minigpt5-7b")
    config.llm.first_token = options.first_token
    config.prompt_style = options.prompt_style
    config.generation.voken_forcing = "official" if options.prompt_style == "official" else "turn-end"
    config.llm.vocab_size = vocab_rows
    for ours, theirs in (("hidden_size", "hidden_size"), ("intermediate_size", "intermediate_size"),
                         ("num_layers", "num_hidden_layers"), ("num_heads", "num_attention_heads"),
                         ("max_position_embeddings", "max_position_embeddings"), ("rms_norm_eps", "rms_norm_eps")):
        if theirs in llama:
            setattr(config.llm, ours, llama[theirs])
    if llama.get("num_key_value_heads", config.llm.num_heads) != config.llm.num_heads:
        raise MiniGPT5Error("the Vicuna config uses grouped-query attention; MiniGPT-5 is built on Vicuna v0 7B, which does not")

    vision = config.vision
    for key in ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.mlp.fc1.weight"):
        if key not in eva:
            raise MiniGPT5Error(f"the EVA ViT file has no {key!r}; give LAVIS' eva_vit_g.pth")
    blocks = official.eva_blocks(eva)
    vision.num_layers = options.vision_layers or max(1, blocks - 1)
    if vision.num_layers > blocks:
        raise MiniGPT5Error(f"vision_layers is {vision.num_layers} but the EVA ViT file has only {blocks} blocks")
    vision.hidden_size = eva["cls_token"].shape[-1]
    vision.patch_size = eva["patch_embed.proj.weight"].shape[-1]
    grid = math.isqrt(eva["pos_embed"].shape[1] - 1)
    vision.image_size = grid * vision.patch_size
    vision.intermediate_size = eva["blocks.0.mlp.fc1.weight"].shape[0]
    if vision.hidden_size != 1408:
        vision.num_heads = max(1, vision.hidden_size // 88)  # EVA ViT-g: head width 88
    if "query_tokens" not in blip2:
        raise MiniGPT5Error("the BLIP-2 file has no 'query_tokens'; give LAVIS' blip2_pretrained_flant5xxl.pth")
    _, vision.num_query_tokens, vision.qformer_hidden_size = blip2["query_tokens"].shape
    vision.qformer_layers = official.qformer_layers(blip2)
    vision.qformer_heads = max(1, vision.qformer_hidden_size // 64)
    ffn = "Qformer.bert.encoder.layer.0.intermediate_query.dense.weight"
    if ffn in blip2:
        vision.qformer_intermediate_size = blip2[ffn].shape[0]
    cross = sorted({int(k.split(".")[4]) for k in blip2 if k.startswith("Qformer.bert.encoder.layer.") and ".crossattention." in k})
    if len(cross) >= 2:
        vision.qformer_cross_attention_frequency = cross[1] - cross[0]

    mapper = config.mapper
    for key in ("fc.0.weight", "t2i_decoder_prompt"):
        if key not in stage1:
            raise MiniGPT5Error(f"the stage-1 checkpoint has no {key!r}; give stage1_cc3m.ckpt")
    mapper.d_model = stage1["fc.0.weight"].shape[0]
    mapper.num_queries = stage1["t2i_decoder_prompt"].shape[1]
    mapper.num_encoder_layers = official.transformer_layers(main, "encoder")
    mapper.num_decoder_layers = official.transformer_layers(main, "decoder")
    linear1 = "llm_to_t2i_mapping.encoder.layers.0.linear1.weight"
    if linear1 in main:
        mapper.ffn_dim = main[linear1].shape[0]
    config.diffusion.cross_attention_dim = mapper.d_model
    config.validate()
    return config


# ---- where each of our tensors comes from -------------------------------------------------------


class _Plan:
    """Maps every key of our model to a recipe over the official sources; checks them all up front."""

    def __init__(self, sources: dict[str, Mapping], names: dict[str, str], main_stage: int, config: MiniGPT5Config,
                 merge_lora: bool):
        self.sources, self.names, self.main_stage = sources, names, main_stage
        self.config, self.merge_lora = config, merge_lora
        self.used: dict[str, set[str]] = {name: set() for name in sources}
        self.missing: list[str] = []

    def _need(self, source: str, key: str) -> tuple[str, str]:
        self.used[source].add(key)
        if key not in self.sources[source]:
            self.missing.append(f"{key} (in {self.names[source]})")
        return source, key

    def recipe(self, ours: str) -> list[tuple[str, str]]:
        """(source, key) pairs this tensor is made of; the first names the shape-defining tensor."""
        emb_key, head_key = official.embedding_keys(self.main_stage)
        main = "stage2" if self.main_stage == 2 else "stage1"
        if ours.startswith("encoder.vision_model.post_layernorm."):
            return [self._need("blip2", "ln_vision." + ours.rsplit(".", 1)[1])]
        if ours.startswith("encoder.vision_model."):
            theirs = official.eva_source(ours[len("encoder.vision_model."):])
            if theirs is None:
                self.missing.append(f"{ours} (no EVA ViT name known)")
                return []
            return [self._need("eva", k) for k in ((theirs,) if isinstance(theirs, str) else theirs)]
        if ours == "encoder.query_tokens":
            return [self._need("blip2", "query_tokens")]
        if ours.startswith("encoder.qformer."):
            return [self._need("blip2", official.qformer_source(ours[len("encoder.qformer."):]))]
        if ours.startswith("encoder.proj."):
            return [self._need("minigpt4", "llama_proj." + ours.rsplit(".", 1)[1])]
        if ours.startswith(("mapper.fc.", "mapper.t2i_decoder_prompt")):
            return [self._need("stage1", ours[len("mapper."):])]
        if ours.startswith("mapper."):
            return [self._need(main, ours[len("mapper."):])]
        if ours.startswith("llm."):
            return self._llm_recipe(ours, main, emb_key, head_key)
        self.missing.append(f"{ours} (no official source known)")
        return []

    def _llm_recipe(self, ours: str, main: str, emb_key: str, head_key: str) -> list[tuple[str, str]]:
        wrapped = ours.startswith("llm.base_model.model.")
        plain = ours[len("llm.base_model.model."):] if wrapped else ours[len("llm."):]
        if ".lora_" in plain:
            return [self._need("stage2", official.STAGE2_LLM + plain)]
        plain = plain.replace(".base_layer.", ".").replace(".token_adapter.", ".")
        if "trainable_tokens_delta" in plain:
            return [self._need(main, emb_key if "embed_tokens" in plain else head_key)]
        if plain == "model.embed_tokens.weight":
            return [self._need(main, emb_key)]
        if plain == "lm_head.weight":
            return [self._need(main, head_key)]
        recipe = [self._need("vicuna", plain)]
        module = plain.rsplit(".", 2)
        if self.merge_lora and self.main_stage == 2 and module[-1] == "weight" and module[-2] in self.config.llm.lora_target_modules:
            prefix = official.STAGE2_LLM + plain[: -len(".weight")]
            recipe += [self._need("stage2", prefix + ".lora_A.default.weight"), self._need("stage2", prefix + ".lora_B.default.weight")]
        return recipe

    def make(self, ours: str, recipe: list[tuple[str, str]]) -> torch.Tensor:
        tensors = [self.sources[s][k] for s, k in recipe]
        if ours.startswith("encoder.vision_model.") and ours.endswith("self_attn.qkv.bias"):
            return official.eva_qkv_bias(*tensors)
        if "trainable_tokens_delta" in ours:
            rows = self.config.num_vokens + 1
            return tensors[0][-rows:].clone()  # its own storage: safetensors refuses shared tensors
        if len(tensors) == 3:
            llm = self.config.llm
            return official.merge_lora(*tensors, alpha=llm.lora_alpha, r=llm.lora_r)
        return tensors[0]


def _shape_of(source: Mapping, key: str) -> tuple[int, ...]:
    return source.shape(key) if isinstance(source, official.LazyTensors) else tuple(source[key].shape)


def convert(
    paths: OfficialPaths, out: str | Path, options: ConvertOptions | None = None, progress: Progress | None = None,
) -> Path:
    """Convert the official files into the model folder `out` (written atomically); returns `out`."""
    options = options or ConvertOptions()
    options.validate()
    out = Path(out)
    stage1, stage2 = _read_minigpt5(paths)
    main, main_stage = (stage2, 2) if stage2 is not None else (stage1, 1)
    emb_key, head_key = official.embedding_keys(main_stage)
    for key in (emb_key, head_key):
        if key not in main:
            raise MiniGPT5Error(f"the stage-{main_stage} checkpoint has no {key}; is it an official MiniGPT-5 file?")
    vocab_rows = main[emb_key].shape[0]
    if main[head_key].shape[0] != vocab_rows:
        raise MiniGPT5Error(f"embed_tokens has {vocab_rows} rows but lm_head has {main[head_key].shape[0]}; the checkpoint is inconsistent")

    eva = read_pickle(paths.eva_vit, "EVA ViT-g (eva_vit_g.pth)")
    blip2 = read_pickle(paths.blip2, "BLIP-2 Q-Former (blip2_pretrained_flant5xxl.pth)")
    minigpt4 = read_pickle(paths.minigpt4, "MiniGPT-4 aligned checkpoint (llama_proj)")
    vicuna = official.open_vicuna(paths.vicuna)
    llama_config = official.read_hf_llama_config(paths.vicuna)
    config = _infer_config(stage1, main, main_stage, eva, blip2, llama_config, vocab_rows, options)
    tokenizer = _load_tokenizer(paths.tokenizer or paths.vicuna, vocab_rows, config.num_vokens)


    with torch.device("meta"):
        skeleton = MiniGPT5(config, tokenizer=None)
    adapter_stage = None
    if main_stage == 2 and not options.merge_lora:
        skeleton.wrap_adapter(2)
        adapter_stage = 2
    expected = {k: tuple(v.shape) for k, v in model_state(skeleton).items()}
    del skeleton

    sources = {"stage1": stage1, "stage2": stage2 or {}, "eva": eva, "blip2": blip2, "minigpt4": minigpt4, "vicuna": vicuna}
    names = {
        "stage1": str(paths.stage1), "stage2": str(paths.stage2), "eva": str(paths.eva_vit), "blip2": str(paths.blip2),
        "minigpt4": str(paths.minigpt4), "vicuna": str(paths.vicuna),
    }
    plan = _Plan(sources, names, main_stage, config, options.merge_lora)
    recipes = {key: plan.recipe(key) for key in expected}
    if plan.missing:
        raise MiniGPT5Error(
            f"{len(plan.missing)} tensors are missing from the official files: {'; '.join(plan.missing[:8])}. "
            "Check that each path points at the right file."
        )
    mismatched = []
    for key, recipe in recipes.items():
        source, theirs = recipe[0]
        shape = _shape_of(sources[source], theirs)
        if key.endswith("self_attn.qkv.bias") and key.startswith("encoder."):
            shape = (3 * shape[0],)
        if "trainable_tokens_delta" in key:
            shape = (config.num_vokens + 1, *shape[1:])
        if shape != expected[key]:
            mismatched.append(f"{theirs} in {names[source]}: {shape}, expected {expected[key]} for {key}")
    if mismatched:
        raise MiniGPT5Error(f"{len(mismatched)} shape mismatches: {'; '.join(mismatched[:6])}. The files do not belong together.")
    _check_unused(plan, config, sources, names)

    dtype = DTYPES[options.dtype]
    total = len(expected)

    def tensors():
        for done, (key, recipe) in enumerate(recipes.items(), start=1):
            with torch.no_grad():
                tensor = plan.make(key, recipe).to(dtype).contiguous()
            if progress:
                progress(done, total, key)
            yield key, tensor

    def fill(staging: Path) -> None:
        write_config(staging, config, adapter_stage)
        write_weights(tensors(), staging, options.max_shard_bytes)
        tokenizer.save_pretrained(staging / TOKENIZER_DIR)
        provenance = {"sources": {k: v for k, v in names.items() if v != "None"}, "options": _options_dict(options),
                      "paths": {k: None if v is None else str(v) for k, v in asdict(paths).items()},
                      "fingerprint": fingerprint(paths, options)}
        (staging / CONVERSION_FILE).write_text(json.dumps(provenance, indent=2))

    write_folder(out, fill)
    return out


def _check_unused(plan: _Plan, config: MiniGPT5Config, sources: dict, names: dict) -> None:
    """MiniGPT-5's own files must be used entirely; the base models' unused parts are only logged."""
    for source in ("stage1", "stage2"):
        unused = sorted(set(sources[source]) - plan.used[source])
        if source == "stage1" and sources["stage2"]:
            unused = [k for k in unused if k.startswith(official.STAGE1_ONLY)]  # the rest is superseded by stage 2
        if source == "stage2" and not plan.merge_lora:
            unused = [k for k in unused if ".lora_" in k]
        unused = [k for k in unused if not (".embed_tokens." in k or ".lm_head." in k)]
        if unused:
            raise MiniGPT5Error(
                f"{len(unused)} tensors of {names[source]} would be dropped ({', '.join(unused[:6])}); this checkpoint "
                "does not match the configuration (e.g. LoRA on other modules than q_proj/v_proj)"
            )
    for source in ("eva", "blip2", "minigpt4", "vicuna"):
        unused = sorted(set(sources[source]) - plan.used[source])
        if unused:
            logger.info("not used from %s: %d tensors (e.g. %s)", names[source], len(unused), ", ".join(unused[:4]))


def _options_dict(options: ConvertOptions) -> dict:
    return {k: v for k, v in asdict(options).items() if k != "extra"}


def fingerprint(paths: OfficialPaths, options: ConvertOptions) -> str:
    """Identifies a conversion: input files (path, size, mtime) and options."""
    parts = {}
    for name, path in asdict(paths).items():
        if path is not None:
            path = Path(path).resolve()
            files = sorted(path.iterdir()) if path.is_dir() else [path]
            parts[name] = [(str(f), f.stat().st_size, int(f.stat().st_mtime)) for f in files if f.is_file()]
    blob = json.dumps({"paths": parts, "options": _options_dict(options)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ensure_converted(
    paths: OfficialPaths, cache_dir: str | Path | None = None, progress: Progress | None = None,
    options: ConvertOptions | None = None,
) -> Path:
    """The converted folder for these files, converting on first use (what `LoadMiniGPT5` calls).

    The cache folder defaults to `minigpt5-converted/` next to the stage-1 file; a folder is reused
    only when its recorded fingerprint (input paths, sizes, mtimes and options) matches. After a new
    conversion, folders that can never match again (their input files changed or are gone) are removed:
    each is as large as the model.
    """
    options = options or ConvertOptions()
    cache_dir = Path(cache_dir) if cache_dir is not None else Path(paths.stage1).parent / "minigpt5-converted"
    stem = Path(paths.stage2 or paths.stage1).stem
    key = fingerprint(paths, options)
    folder = cache_dir / f"{stem}-{options.dtype}-{key}"
    provenance = folder / CONVERSION_FILE
    if (folder / CONFIG_FILE).is_file() and provenance.is_file():
        try:
            if json.loads(provenance.read_text()).get("fingerprint") == key:
                return folder
        except json.JSONDecodeError:
            pass
    convert(paths, folder, options, progress)
    _remove_stale_conversions(cache_dir, keep=folder)
    return folder


def _remove_stale_conversions(cache_dir: Path, keep: Path) -> None:
    """Delete converted folders whose recorded inputs no longer exist as they were. A folder made with
    other options from the same, unchanged files is kept: it is still reachable."""
    for folder in sorted(p for p in cache_dir.iterdir() if p.is_dir() and p != keep):
        try:
            record = json.loads((folder / CONVERSION_FILE).read_text())
            paths, options = OfficialPaths(**record["paths"]), ConvertOptions(**record["options"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            continue  # not ours, or written before inputs were recorded: leave it alone
        try:
            current = fingerprint(paths, options)
        except OSError:
            current = None  # an input file is gone
        if current != record.get("fingerprint"):
            logger.info("removing %s: it was converted from files that have changed since", folder)
            shutil.rmtree(folder, ignore_errors=True)


# ---- command line -------------------------------------------------------------------------------


def _size(text: str) -> int:
    """'4GB', '500MB', '1.5GB' or a number of bytes -> bytes; anything else is one clear line."""
    units = {"KB": 2**10, "MB": 2**20, "GB": 2**30, "B": 1}
    number, factor = text.strip(), 1
    for unit, unit_factor in units.items():
        if number.upper().endswith(unit):
            number, factor = number[: -len(unit)].strip(), unit_factor
            break
    try:
        value = float(number) * factor
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1:
        raise MiniGPT5Error(f"--max-shard-size {text!r} is not a positive size; write it like 4GB or 500MB")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    """The command line; exit codes as in `minigpt5_core.cli` (2: bad input, one line)."""
    return run_cli("minigpt5_core.convert", _main, argv)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m minigpt5_core.convert", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage1", required=True, help="stage1_cc3m.ckpt (always needed: fc.* and the 77 queries)")
    parser.add_argument("--stage2", help="stage2_vist.ckpt or stage2_mmdialog.ckpt (optional)")
    parser.add_argument("--vicuna", required=True, help="Vicuna v0 7B folder (Hugging Face LLaMA layout)")
    parser.add_argument("--eva-vit", required=True, help="LAVIS eva_vit_g.pth")
    parser.add_argument("--blip2", required=True, help="LAVIS blip2_pretrained_flant5xxl.pth (Q-Former, queries, ln_vision)")
    parser.add_argument("--minigpt4", required=True, help="MiniGPT-4 7B aligned checkpoint (llama_proj)")
    parser.add_argument("--tokenizer", help="tokenizer folder (default: the Vicuna folder)")
    parser.add_argument("--out", required=True, help="model folder to write (an existing one is replaced only if it "
                        "is empty or holds nothing but a model folder's files)")
    parser.add_argument("--keep-lora", action="store_true", help="keep stage 2's LoRA as a peft adapter instead of merging it")
    parser.add_argument("--first-token", choices=("eos", "bos"), default="eos",
                        help="token that starts every sequence (default eos: what the released checkpoints used)")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="bf16", help="weights' dtype (default bf16)")
    parser.add_argument("--max-shard-size", default="4GB", help="largest safetensors shard (default 4GB)")
    parser.add_argument("--vision-layers", type=int, help="EVA blocks to keep (default: the file's blocks minus one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = OfficialPaths(stage1=args.stage1, stage2=args.stage2, vicuna=args.vicuna, eva_vit=args.eva_vit,
                          blip2=args.blip2, minigpt4=args.minigpt4, tokenizer=args.tokenizer)
    options = ConvertOptions(merge_lora=not args.keep_lora, first_token=args.first_token, dtype=args.dtype,
                             max_shard_bytes=_size(args.max_shard_size), vision_layers=args.vision_layers)
    check_model_target(args.out)  # before minutes of reading checkpoints
    from tqdm import tqdm

    bar = None

    def progress(done: int, total: int, what: str) -> None:
        nonlocal bar
        bar = bar or tqdm(total=total, desc="tensors", unit="t", file=sys.stderr)
        bar.update(1)

    try:
        out = convert(paths, args.out, options, progress)
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {out}")
    return 0
