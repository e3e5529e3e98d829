"""Converter: synthetic files with the official KEY NAMES (and official widths) -> our folder -> loaded model.

Shapes: the mapper at full official size (fc 4096->1024, 4+4 layers, 77 queries); the LLM at full width
(hidden 4096, 32 heads) with 1 layer and a reduced FFN (1024 instead of 11008, to keep the test near
a few seconds); EVA ViT at full width (1408, FFN 6144) with 2 blocks in the file (1 used, as BLIP-2
drops the last); Q-Former at full width (768) with 2 layers; vocabulary from a sentencepiece model
trained here (120 tokens + 9).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from minigpt5_core import MiniGPT5, MiniGPT5Error
from minigpt5_core.convert import ConvertOptions, OfficialPaths, convert, ensure_converted, main
from official_files import EVA_W, H, V, _g, write_official


def _load(path, key=None):
    data = torch.load(path, weights_only=True, mmap=True)
    return data[key] if key else data


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_official(tmp_path_factory.mktemp("official"))


@pytest.fixture(scope="module")
def merged(files, tmp_path_factory):
    out = convert(files, tmp_path_factory.mktemp("conv") / "vist", ConvertOptions(dtype="fp32"))
    return MiniGPT5.from_pretrained(out)


# ---- values: each checked against an independent computation -------------------------------------


def test_mapper_equals_a_plain_torch_transformer_with_the_official_weights(files, merged):
    s1, s2 = _load(files.stage1, "state_dict"), _load(files.stage2, "state_dict")
    transformer = nn.Transformer(d_model=1024, nhead=8, num_encoder_layers=4, num_decoder_layers=4, dim_feedforward=4096,
                                 dropout=0.0, batch_first=True, norm_first=True)
    transformer.load_state_dict({k[len("llm_to_t2i_mapping."):]: v for k, v in s2.items() if k.startswith("llm_to_t2i_mapping.")})
    fc = nn.Sequential(nn.Linear(H, 1024), nn.GELU(), nn.Linear(1024, 1024))
    fc.load_state_dict({k[3:]: v for k, v in s1.items() if k.startswith("fc.")})
    vokens = torch.randn(2, 8, H, generator=_g(1))
    with torch.no_grad():
        expected = transformer(fc(vokens), s1["t2i_decoder_prompt"].expand(2, -1, -1))
        got = merged.mapper(vokens)
    assert got.shape == (2, 77, 1024)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in merged.mapper.parameters()) == 122_899_456


def test_lora_is_merged_as_w_plus_alpha_over_r_b_a(files, merged):
    s2 = _load(files.stage2, "state_dict")
    from safetensors.torch import load_file

    vicuna = load_file(files.vicuna / "model.safetensors")
    lm = "model.llama_model.base_model.model.model.layers.0.self_attn."
    for name in ("q_proj", "v_proj"):
        w = vicuna[f"model.layers.0.self_attn.{name}.weight"].float()
        expected = w + (16 / 8) * s2[lm + f"{name}.lora_B.default.weight"] @ s2[lm + f"{name}.lora_A.default.weight"]
        got = getattr(merged.llm.model.layers[0].self_attn, name).weight
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(merged.llm.model.layers[0].self_attn.k_proj.weight, vicuna["model.layers.0.self_attn.k_proj.weight"].float())


def test_whole_embedding_matrices_come_from_the_stage2_checkpoint(files, merged):
    s2 = _load(files.stage2, "state_dict")
    lm = "model.llama_model.base_model.model."
    assert torch.equal(merged.llm.get_input_embeddings().weight, s2[lm + "model.embed_tokens.modules_to_save.default.weight"])
    assert torch.equal(merged.llm.lm_head.weight, s2[lm + "lm_head.modules_to_save.default.weight"])


def test_vision_keys_follow_the_lavis_names(files, merged):
    eva, blip2 = _load(files.eva_vit), _load(files.blip2, "model")
    proj = _load(files.minigpt4, "model")
    vision = merged.encoder.vision_model
    assert len(vision.encoder.layers) == 1  # 2 blocks in the file, the last dropped as BLIP-2 does
    attn = vision.encoder.layers[0].self_attn
    assert torch.equal(attn.qkv.bias, torch.cat([eva["blocks.0.attn.q_bias"], torch.zeros(EVA_W), eva["blocks.0.attn.v_bias"]]))
    assert torch.equal(attn.projection.weight, eva["blocks.0.attn.proj.weight"])
    assert torch.equal(vision.embeddings.class_embedding, eva["cls_token"])
    assert torch.equal(vision.post_layernorm.weight, blip2["ln_vision.weight"])
    layer = merged.encoder.qformer.encoder.layer[0]
    assert torch.equal(layer.crossattention.attention.key.weight, blip2["Qformer.bert.encoder.layer.0.crossattention.self.key.weight"])
    assert torch.equal(layer.output_query.dense.weight, blip2["Qformer.bert.encoder.layer.0.output_query.dense.weight"])
    assert torch.equal(merged.encoder.qformer.layernorm.bias, blip2["Qformer.bert.embeddings.LayerNorm.bias"])
    assert torch.equal(merged.encoder.query_tokens, blip2["query_tokens"])
    assert torch.equal(merged.encoder.proj.weight, proj["llama_proj.weight"])
    from PIL import Image

    assert merged.encode_images([Image.new("RGB", (40, 30), "red")]).shape == (1, 32, H)


def test_tokenizer_is_saved_with_the_nine_tokens_and_runs(merged):
    tok = merged.tokenizer
    assert len(tok) == V
    assert [tok.convert_tokens_to_ids(f"[IMG{i}]") for i in range(8)] == list(range(V - 9, V - 1))
    assert tok("a fox [IMG0]<ImageHere>", add_special_tokens=False).input_ids[-2:] == [V - 9, V - 1]
    assert merged.config.llm.first_token == "eos"
    session = merged.start_session("A fox.")
    assert session is not None  # the chat prompt embeds and runs through the converted LLM


def test_keep_lora_as_adapter_gives_the_merged_logits(files, merged, tmp_path):
    out = convert(files, tmp_path / "adapter", ConvertOptions(dtype="fp32", merge_lora=False))
    assert json.loads((out / "config.json").read_text())["adapter_stage"] == 2
    adapter = MiniGPT5.from_pretrained(out)
    assert adapter.adapter_stage == 2
    ids = torch.tensor([[2, 5, 9, V - 9, V - 1]])
    with torch.no_grad():
        torch.testing.assert_close(adapter.llm(input_ids=ids).logits, merged.llm(input_ids=ids).logits, atol=1e-4, rtol=1e-4)


def test_stage1_alone_bf16_bos_sharded(files, tmp_path):
    paths = OfficialPaths(**{**vars(files), "stage2": None})
    out = convert(paths, tmp_path / "cc3m", ConvertOptions(dtype="bf16", first_token="bos", max_shard_bytes=200 * 2**20))
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    model = MiniGPT5.from_pretrained(out)
    assert model.config.llm.first_token == "bos" and model._first_token_id() == 1
    s1 = _load(files.stage1, "state_dict")
    assert model.llm.lm_head.weight.dtype == torch.bfloat16
    assert torch.equal(model.llm.lm_head.weight, s1["model.llama_model.lm_head.weight"].bfloat16())
    assert torch.equal(model.mapper.llm_to_t2i_mapping.decoder.norm.bias, s1["llm_to_t2i_mapping.decoder.norm.bias"].bfloat16())


def test_ensure_converted_converts_once_then_reuses(files, tmp_path):
    paths = OfficialPaths(**{**vars(files), "stage2": None})
    calls = []
    first = ensure_converted(paths, tmp_path / "cache", progress=lambda d, t, w: calls.append(d))
    assert calls and calls[-1] == len(calls)
    again = ensure_converted(paths, tmp_path / "cache", progress=lambda d, t, w: calls.append(-1))
    assert again == first and -1 not in calls


def test_a_conversion_from_files_that_changed_since_is_removed(files, tmp_path):
    paths = OfficialPaths(**{**vars(files), "stage2": None})
    old = ensure_converted(paths, tmp_path / "cache")
    other_options = ensure_converted(paths, tmp_path / "cache", options=ConvertOptions(dtype="fp16"))
    stat = Path(files.stage1).stat()
    os.utime(files.stage1, (stat.st_atime, stat.st_mtime + 60))  # the stage-1 file was replaced
    new = ensure_converted(paths, tmp_path / "cache")
    assert new != old and new.is_dir()
    assert not old.exists() and not other_options.exists()  # both were made from the old file
    unchanged = ensure_converted(paths, tmp_path / "cache", options=ConvertOptions(dtype="fp16"))
    assert new.is_dir() and unchanged.is_dir()  # other options over the same files: still reachable


def test_cli_converts_and_reports_errors(files, tmp_path, capsys):
    args = ["--stage1", str(files.stage1), "--vicuna", str(files.vicuna), "--eva-vit", str(files.eva_vit),
            "--blip2", str(files.blip2), "--minigpt4", str(files.minigpt4), "--dtype", "fp16"]
    assert main([*args, "--out", str(tmp_path / "m")]) == 0
    assert MiniGPT5.from_pretrained(tmp_path / "m").dtype == torch.float16
    assert main([*args[:1], str(files.stage2), *args[2:], "--out", str(tmp_path / "n")]) == 2
    assert "stage-2 checkpoint" in capsys.readouterr().err


# ---- error paths (MINIGPT5 issue 6, item 5) ------------------------------------------------------


def _with(files, **changes):
    return OfficialPaths(**{**vars(files), **changes})


def test_stage2_file_without_its_stage1_file_is_refused(files, tmp_path):
    with pytest.raises(MiniGPT5Error, match="stage-2 checkpoint.*come from stage 1"):
        convert(_with(files, stage1=files.stage2, stage2=None), tmp_path / "x")
    with pytest.raises(MiniGPT5Error, match="is a stage-1 checkpoint"):
        convert(_with(files, stage2=files.stage1), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_pickle_with_a_non_tensor_object_is_refused(files, tmp_path):
    bad = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"fc.0.weight": torch.zeros(1)}, "args": argparse.Namespace(lr=1)}, bad)
    with pytest.raises(MiniGPT5Error, match="holds more than tensors.*weights_only=True"):
        convert(_with(files, stage1=bad), tmp_path / "x")


def test_missing_key_is_named(files, tmp_path):
    eva = dict(_load(files.eva_vit))
    del eva["blocks.0.attn.v_bias"]
    torch.save(eva, tmp_path / "eva.pth")
    with pytest.raises(MiniGPT5Error, match=r"missing.*blocks\.0\.attn\.v_bias"):
        convert(_with(files, eva_vit=tmp_path / "eva.pth"), tmp_path / "x")


def test_unexpected_key_in_a_minigpt5_checkpoint_is_listed(files, tmp_path):
    s1 = dict(_load(files.stage1, "state_dict"))
    s1["model.llama_proj.weight"] = torch.zeros(2, 2)
    torch.save({"state_dict": s1}, tmp_path / "s1.ckpt")
    with pytest.raises(MiniGPT5Error, match=r"unexpected keys.*model\.llama_proj\.weight"):
        convert(_with(files, stage1=tmp_path / "s1.ckpt"), tmp_path / "x")


def test_shape_mismatch_is_named(files, tmp_path):
    torch.save({"model": {"llama_proj.weight": torch.zeros(H, 512), "llama_proj.bias": torch.zeros(H)}}, tmp_path / "p.pth")
    with pytest.raises(MiniGPT5Error, match=r"shape mismatches.*llama_proj\.weight.*\(4096, 512\)"):
        convert(_with(files, minigpt4=tmp_path / "p.pth"), tmp_path / "x")


def test_tokenizer_size_that_does_not_match_the_checkpoint_rows_is_refused(files, tmp_path):
    other = tmp_path / "tok"
    shutil.copytree(files.vicuna, other, ignore=shutil.ignore_patterns("*.safetensors"))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(other)
    tok.add_tokens(["<pad>"])
    shutil.rmtree(other)
    tok.save_pretrained(other)
    with pytest.raises(MiniGPT5Error, match=f"embedding matrix has {V} rows"):
        convert(_with(files, tokenizer=other), tmp_path / "x")


def test_a_tokenizer_that_splits_img0_is_refused(files, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # "[IMG0]" is in the vocabulary but no merge builds it: the tokenizer drift the official code missed.
    chars = sorted(set("[]IMG0123456789<>ImageHere abcdefghijklmnopqrstuvwxyz"))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    vocab["[IMG0]"] = len(vocab)
    while len(vocab) < V - 8:  # with the 8 tokens it lacks, as many ids as the checkpoint has rows
        vocab[f"w{len(vocab)}"] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tok.save_pretrained(tmp_path / "split")
    with pytest.raises(MiniGPT5Error, match=r"splits '\[IMG0\]'"):
        convert(_with(files, tokenizer=tmp_path / "split"), tmp_path / "x")


def test_load_refuses_a_tokenizer_whose_size_does_not_match_the_rows(tiny_model_dir, merged, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    shutil.rmtree(copy / "tokenizer")
    merged.tokenizer.save_pretrained(copy / "tokenizer")
    with pytest.raises(MiniGPT5Error, match="embedding matrix has"):
        MiniGPT5.from_pretrained(copy)


def test_load_names_a_missing_shard(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "m", max_shard_bytes=2**20)
    shard = sorted((tmp_path / "m").glob("model-*.safetensors"))[1]
    shard.unlink()
    with pytest.raises(MiniGPT5Error, match=shard.name):
        MiniGPT5.from_pretrained(tmp_path / "m")
