"""The official files' key names, and how each of our tensors is made from them (MINIGPT5_SPEC.md §6).

| our prefix                   | source file                     | its key names                                  |
|------------------------------|---------------------------------|------------------------------------------------|
| encoder.vision_model.*       | LAVIS `eva_vit_g.pth`           | `cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.{norm1,attn.qkv,attn.q_bias,attn.v_bias,attn.proj,norm2,mlp.fc1,mlp.fc2}.*` |
| encoder.vision_model.post_layernorm | BLIP-2 `blip2_pretrained_flant5xxl.pth` | `ln_vision.*`                          |
| encoder.query_tokens, qformer| BLIP-2 file                     | `query_tokens`, `Qformer.bert.*` (`attention.self` -> `attention.attention`, `embeddings.LayerNorm` -> `layernorm`) |
| encoder.proj                 | MiniGPT-4 aligned checkpoint    | `llama_proj.*` (under `model`)                 |
| llm.model.* (except embed)   | Vicuna folder (HF LLaMA)        | `model.layers.N.*`, `model.norm.weight`        |
| embed_tokens, lm_head (whole)| MiniGPT-5 stage 2 if given, else stage 1 | `model.llama_model[.base_model.model].{model.embed_tokens,lm_head}[.modules_to_save.default].weight` |
| LoRA on q_proj / v_proj      | MiniGPT-5 stage 2               | `...layers.N.self_attn.{q,v}_proj.lora_{A,B}.default.weight` |
| mapper.llm_to_t2i_mapping    | stage 2 if given, else stage 1  | same names (torch nn.Transformer)              |
| mapper.fc, t2i_decoder_prompt| stage 1                         | same names                                     |

EVA's attention has a q bias and a v bias but no k bias; transformers' BLIP-2 vision model packs one
qkv bias, so the k third is zeros. EVA-CLIP has 40 blocks and BLIP-2 uses the first 39.
Pickled files are only ever read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import MiniGPT5Error
from ..io.readers import LazyTensors, open_safetensors, open_torch_files

# MiniGPT-5 checkpoint prefixes (the Lightning module holds the MiniGPT-4-style model under `model.`).
STAGE1_LLM = "model.llama_model."
STAGE2_LLM = "model.llama_model.base_model.model."
MODULES_TO_SAVE = ".modules_to_save.default.weight"
MAPPER_PREFIXES = ("fc.", "llm_to_t2i_mapping.", "t2i_decoder_prompt")
STAGE1_ONLY = ("fc.", "t2i_decoder_prompt")

# Parts of the third-party files that MiniGPT-5 does not use (LAVIS loads them with strict=False too).
QFORMER_UNUSED = re.compile(
    r"^Qformer\.(cls\.|bert\.embeddings\.(word_embeddings|position_embeddings|position_ids)|"
    r"bert\.encoder\.layer\.\d+\.(intermediate|output)\.)"
)
LORA_KEY = re.compile(r"layers\.(\d+)\.self_attn\.(\w+)\.lora_([AB])\.default\.weight$")


# ---- reading files ------------------------------------------------------------------------------


def open_vicuna(folder: Path) -> LazyTensors:
    """The LLaMA weights of a Hugging Face folder: model*.safetensors or pytorch_model*.bin (sharded or not)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MiniGPT5Error(f"Vicuna folder {folder} does not exist; give the folder holding config.json and the weights")
    for index_name, single, pattern in (
        ("model.safetensors.index.json", "model.safetensors", "model*.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin", "pytorch_model*.bin"),
    ):
        index = folder / index_name
        if index.is_file():
            files = sorted({folder / f for f in json.loads(index.read_text())["weight_map"].values()})
        elif (folder / single).is_file():
            files = [folder / single]
        else:
            files = sorted(folder.glob(pattern))
        if files:
            missing = [f for f in files if not f.is_file()]
            if missing:
                raise MiniGPT5Error(f"Vicuna folder {folder} lacks {', '.join(f.name for f in missing)} (named in its index); re-download it")
            return open_safetensors(files) if pattern.endswith("safetensors") else open_torch_files(files, "Vicuna weights")
    raise MiniGPT5Error(
        f"Vicuna folder {folder} has no weights (model*.safetensors or pytorch_model*.bin); give the folder of the "
        "merged Vicuna v0 7B weights in Hugging Face layout"
    )


def read_hf_llama_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise MiniGPT5Error(f"Vicuna folder {folder} has no config.json; give the Hugging Face LLaMA folder")
    return json.loads(path.read_text())


# ---- what kind of MiniGPT-5 checkpoint is this ---------------------------------------------------


def checkpoint_stage(state: Mapping[str, torch.Tensor]) -> int:
    """1 or 2, from the keys (stage 2 wraps the LLM in peft and has no fc / queries)."""
    if any(k.startswith(STAGE2_LLM) for k in state):
        return 2
    if any(k.startswith(STAGE1_LLM) for k in state) or any(k.startswith(MAPPER_PREFIXES) for k in state):
        return 1
    raise MiniGPT5Error(
        "this file is not a MiniGPT-5 checkpoint: it has neither model.llama_model.* nor llm_to_t2i_mapping.* keys "
        "(expected stage1_cc3m.ckpt, stage2_vist.ckpt or stage2_mmdialog.ckpt)"
    )


def embedding_keys(stage: int) -> tuple[str, str]:
    """Keys of the whole embed_tokens and lm_head matrices in a stage-`stage` checkpoint."""
    if stage == 1:
        return STAGE1_LLM + "model.embed_tokens.weight", STAGE1_LLM + "lm_head.weight"
    return STAGE2_LLM + "model.embed_tokens" + MODULES_TO_SAVE, STAGE2_LLM + "lm_head" + MODULES_TO_SAVE


def known_checkpoint_key(key: str, stage: int) -> bool:
    """Keys a MiniGPT-5 checkpoint of this stage may hold (anything else is reported as unexpected)."""
    if key.startswith(MAPPER_PREFIXES):
        return True
    if stage == 2:
        if LORA_KEY.search(key) and key.startswith(STAGE2_LLM):
            return True
        # peft keeps an untouched copy of the wrapped matrices next to modules_to_save
        return key.startswith(STAGE2_LLM) and (".embed_tokens." in key or ".lm_head." in key)
    return key in embedding_keys(1)


# ---- LAVIS / BLIP-2 / MiniGPT-4 names -> ours ----------------------------------------------------

_EVA_BLOCK = {
    "norm1": "layer_norm1", "norm2": "layer_norm2", "attn.qkv": "self_attn.qkv", "attn.proj": "self_attn.projection",
    "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
}


def eva_source(ours: str) -> str | tuple[str, str] | None:
    """The eva_vit_g.pth key for one of our `vision_model.*` keys; a (q_bias, v_bias) pair for the qkv bias."""
    if ours == "embeddings.class_embedding":
        return "cls_token"
    if ours == "embeddings.position_embedding":
        return "pos_embed"
    if ours.startswith("embeddings.patch_embedding."):
        return "patch_embed.proj." + ours.rsplit(".", 1)[1]
    match = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", ours)
    if not match:
        return None
    layer, module, kind = match.groups()
    if module == "self_attn.qkv" and kind == "bias":
        return f"blocks.{layer}.attn.q_bias", f"blocks.{layer}.attn.v_bias"
    for theirs, mine in _EVA_BLOCK.items():
        if module == mine:
            return f"blocks.{layer}.{theirs}.{kind}"
    return None


def eva_qkv_bias(q_bias: torch.Tensor, v_bias: torch.Tensor) -> torch.Tensor:
    return torch.cat([q_bias, torch.zeros_like(q_bias), v_bias])


def qformer_source(ours: str) -> str:
    """The BLIP-2 checkpoint key for one of our `qformer.*` keys."""
    if ours.startswith("layernorm."):
        return "Qformer.bert.embeddings.LayerNorm." + ours.split(".", 1)[1]
    return "Qformer.bert." + ours.replace("attention.attention.", "attention.self.")


def eva_blocks(keys) -> int:
    return len({int(m.group(1)) for k in keys if (m := re.match(r"blocks\.(\d+)\.", k))})


def qformer_layers(keys) -> int:
    return len({int(m.group(1)) for k in keys if (m := re.match(r"Qformer\.bert\.encoder\.layer\.(\d+)\.", k))})


def transformer_layers(keys, part: str) -> int:
    pattern = re.compile(rf"llm_to_t2i_mapping\.{part}\.layers\.(\d+)\.")
    return len({int(m.group(1)) for k in keys if (m := pattern.match(k))})


def merge_lora(weight: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, alpha: float, r: int) -> torch.Tensor:
    """W + (alpha / r) * B @ A, in float32."""
    return weight.float() + (alpha / r) * (lora_b.float() @ lora_a.float())
