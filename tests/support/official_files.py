"""Synthetic official MiniGPT-5 files (test helper): the official KEY NAMES, written at test time.

    write_official(root)               -> OfficialPaths  official widths: LLM hidden 4096 (32 heads, 1 layer,
                                                         FFN 1024), EVA ViT 1408 (2 blocks), Q-Former 768,
                                                         mapper at full size
    write_official(root, SMALL)        -> OfficialPaths  the same names and layout, narrow: seconds to convert
                                                         (the ComfyUI loader tests)
Files: stage1_cc3m.ckpt, stage2_vist.ckpt, vicuna/ (HF LLaMA folder + sentencepiece tokenizer), eva_vit_g.pth,
blip2_pretrained_flant5xxl.pth, pretrained_minigpt4.pth. The vocabulary comes from a sentencepiece model trained
here (120 tokens; + the 9 MiniGPT-5 tokens = 129 checkpoint rows).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import torch
from safetensors.torch import save_file

from minigpt5_core.layout import OfficialPaths


@dataclass(frozen=True)
class Sizes:
    hidden: int = 4096  # LLM width
    heads: int = 32
    ffn: int = 1024  # LLM FFN, cut from 11008 to keep the tests near a few seconds
    eva: int = 1408
    eva_ffn: int = 6144
    qformer: int = 768
    qformer_ffn: int = 3072
    mapper_ffn: int = 4096
    mapper_layers: int = 4


OFFICIAL_WIDTHS = Sizes()
SMALL = Sizes(hidden=256, heads=4, ffn=128, eva=176, eva_ffn=256, qformer=128, qformer_ffn=256, mapper_ffn=256,
              mapper_layers=1)

H, FFN, VOCAB, V = 4096, 1024, 120, 129
EVA_W, EVA_FFN, QF_W = 1408, 6144, 768


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _r(gen, *shape, scale=0.02):
    return torch.randn(*shape, generator=gen) * scale


def _sentencepiece_folder(folder):
    import sentencepiece as spm

    text = ["Once upon a time a little fox found a lantern in the dark forest.",
            "The cat sat on the mat and looked at the moon. ###Human: ###Assistant:"] * 40
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=model, vocab_size=VOCAB,
                                   model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}))


def _mapper_state(gen, ffn=4096, layers=4):
    state = {}
    for part in ("encoder", "decoder"):
        for i in range(layers):
            p = f"llm_to_t2i_mapping.{part}.layers.{i}."
            attns = ["self_attn"] + (["multihead_attn"] if part == "decoder" else [])
            for a in attns:
                state[p + f"{a}.in_proj_weight"] = _r(gen, 3072, 1024)
                state[p + f"{a}.in_proj_bias"] = _r(gen, 3072)
                state[p + f"{a}.out_proj.weight"] = _r(gen, 1024, 1024)
                state[p + f"{a}.out_proj.bias"] = _r(gen, 1024)
            state[p + "linear1.weight"], state[p + "linear1.bias"] = _r(gen, ffn, 1024), _r(gen, ffn)
            state[p + "linear2.weight"], state[p + "linear2.bias"] = _r(gen, 1024, ffn), _r(gen, 1024)
            for n in range(1, 4 if part == "decoder" else 3):
                state[p + f"norm{n}.weight"] = 1 + _r(gen, 1024)
                state[p + f"norm{n}.bias"] = _r(gen, 1024)
        state[f"llm_to_t2i_mapping.{part}.norm.weight"] = 1 + _r(gen, 1024)
        state[f"llm_to_t2i_mapping.{part}.norm.bias"] = _r(gen, 1024)
    return state


def write_official(root, sizes: Sizes = OFFICIAL_WIDTHS):
    """Every official file, with official key names; returns OfficialPaths."""
    g = _g(0)
    H, FFN, EVA_W, EVA_FFN, QF_W = sizes.hidden, sizes.ffn, sizes.eva, sizes.eva_ffn, sizes.qformer
    vicuna = root / "vicuna"
    _sentencepiece_folder(vicuna)
    (vicuna / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "hidden_size": H, "intermediate_size": FFN, "num_hidden_layers": 1,
        "num_attention_heads": sizes.heads, "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "vocab_size": VOCAB}))
    llama = {"model.embed_tokens.weight": _r(g, VOCAB, H), "lm_head.weight": _r(g, VOCAB, H),
             "model.norm.weight": 1 + _r(g, H)}
    p = "model.layers.0."
    for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
        llama[p + f"self_attn.{n}.weight"] = _r(g, H, H)
    llama[p + "mlp.gate_proj.weight"], llama[p + "mlp.up_proj.weight"] = _r(g, FFN, H), _r(g, FFN, H)
    llama[p + "mlp.down_proj.weight"] = _r(g, H, FFN)
    llama[p + "input_layernorm.weight"], llama[p + "post_attention_layernorm.weight"] = 1 + _r(g, H), 1 + _r(g, H)
    save_file({k: v.half() for k, v in llama.items()}, vicuna / "model.safetensors")

    stage1 = {"model.llama_model.model.embed_tokens.weight": _r(g, V, H), "model.llama_model.lm_head.weight": _r(g, V, H),
              "t2i_decoder_prompt": torch.randn(1, 77, 1024, generator=g), "fc.0.weight": _r(g, 1024, H),
              "fc.0.bias": _r(g, 1024), "fc.2.weight": _r(g, 1024, 1024), "fc.2.bias": _r(g, 1024), **_mapper_state(g, sizes.mapper_ffn, sizes.mapper_layers)}
    torch.save({"state_dict": stage1, "epoch": 1}, root / "stage1_cc3m.ckpt")
    lm = "model.llama_model.base_model.model."
    stage2 = {lm + "model.embed_tokens.modules_to_save.default.weight": _r(g, V, H),
              lm + "model.embed_tokens.original_module.weight": _r(g, V, H),
              lm + "lm_head.modules_to_save.default.weight": _r(g, V, H), **_mapper_state(g, sizes.mapper_ffn, sizes.mapper_layers)}
    for n in ("q_proj", "v_proj"):
        stage2[lm + f"model.layers.0.self_attn.{n}.lora_A.default.weight"] = _r(g, 8, H)
        stage2[lm + f"model.layers.0.self_attn.{n}.lora_B.default.weight"] = _r(g, H, 8)
    torch.save({"state_dict": stage2}, root / "stage2_vist.ckpt")

    eva = {"cls_token": _r(g, 1, 1, EVA_W), "pos_embed": _r(g, 1, 257, EVA_W),
           "patch_embed.proj.weight": _r(g, EVA_W, 3, 14, 14), "patch_embed.proj.bias": _r(g, EVA_W)}
    for i in range(2):
        b = f"blocks.{i}."
        for n in ("norm1", "norm2"):
            eva[b + n + ".weight"], eva[b + n + ".bias"] = 1 + _r(g, EVA_W), _r(g, EVA_W)
        eva[b + "attn.qkv.weight"] = _r(g, 3 * EVA_W, EVA_W)
        eva[b + "attn.q_bias"], eva[b + "attn.v_bias"] = _r(g, EVA_W), _r(g, EVA_W)
        eva[b + "attn.proj.weight"], eva[b + "attn.proj.bias"] = _r(g, EVA_W, EVA_W), _r(g, EVA_W)
        eva[b + "mlp.fc1.weight"], eva[b + "mlp.fc1.bias"] = _r(g, EVA_FFN, EVA_W), _r(g, EVA_FFN)
        eva[b + "mlp.fc2.weight"], eva[b + "mlp.fc2.bias"] = _r(g, EVA_W, EVA_FFN), _r(g, EVA_W)
    torch.save(eva, root / "eva_vit_g.pth")

    q = "Qformer.bert."
    blip2 = {"query_tokens": _r(g, 1, 32, QF_W), "ln_vision.weight": 1 + _r(g, EVA_W), "ln_vision.bias": _r(g, EVA_W),
             q + "embeddings.LayerNorm.weight": 1 + _r(g, QF_W), q + "embeddings.LayerNorm.bias": _r(g, QF_W),
             q + "embeddings.word_embeddings.weight": _r(g, 50, QF_W), q + "embeddings.position_ids": torch.arange(8)[None],
             "Qformer.cls.predictions.bias": _r(g, 50), "t5_proj.weight": _r(g, 16, QF_W)}
    for i in range(2):
        lp = f"{q}encoder.layer.{i}."
        for att in ["attention"] + (["crossattention"] if i == 0 else []):
            kv_in = EVA_W if att == "crossattention" else QF_W
            blip2[lp + f"{att}.self.query.weight"], blip2[lp + f"{att}.self.query.bias"] = _r(g, QF_W, QF_W), _r(g, QF_W)
            for n in ("key", "value"):
                blip2[lp + f"{att}.self.{n}.weight"], blip2[lp + f"{att}.self.{n}.bias"] = _r(g, QF_W, kv_in), _r(g, QF_W)
            blip2[lp + f"{att}.output.dense.weight"], blip2[lp + f"{att}.output.dense.bias"] = _r(g, QF_W, QF_W), _r(g, QF_W)
            blip2[lp + f"{att}.output.LayerNorm.weight"], blip2[lp + f"{att}.output.LayerNorm.bias"] = 1 + _r(g, QF_W), _r(g, QF_W)
        for branch in ("", "_query"):  # the text branch (no suffix) is unused by MiniGPT-5
            blip2[lp + f"intermediate{branch}.dense.weight"] = _r(g, sizes.qformer_ffn, QF_W)
            blip2[lp + f"intermediate{branch}.dense.bias"] = _r(g, sizes.qformer_ffn)
            blip2[lp + f"output{branch}.dense.weight"], blip2[lp + f"output{branch}.dense.bias"] = _r(g, QF_W, sizes.qformer_ffn), _r(g, QF_W)
            blip2[lp + f"output{branch}.LayerNorm.weight"] = 1 + _r(g, QF_W)
            blip2[lp + f"output{branch}.LayerNorm.bias"] = _r(g, QF_W)
    torch.save({"model": blip2}, root / "blip2_pretrained_flant5xxl.pth")
    torch.save({"model": {"llama_proj.weight": _r(g, H, QF_W), "llama_proj.bias": _r(g, H)}}, root / "pretrained_minigpt4.pth")
    return OfficialPaths(stage1=root / "stage1_cc3m.ckpt", stage2=root / "stage2_vist.ckpt", vicuna=vicuna,
                         eva_vit=root / "eva_vit_g.pth", blip2=root / "blip2_pretrained_flant5xxl.pth",
                         minigpt4=root / "pretrained_minigpt4.pth")
