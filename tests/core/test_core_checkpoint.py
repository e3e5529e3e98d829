"""Our model folder: exact round trips and clear errors for every broken folder."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from minigpt5_core import MiniGPT5, MiniGPT5Config, MiniGPT5Error
from minigpt5_core.train.stages import trainable_parameters
from minigpt5_core.modeling.tiny_tokenizer import build_tiny_tokenizer
from minigpt5_core.tokens import check_tokenizer


def test_round_trip_gives_identical_outputs(tiny_model, tiny_model_dir):
    loaded = MiniGPT5.from_pretrained(tiny_model_dir)
    a = tiny_model.generate("A cat.", seed=3, force_image=True, max_new_tokens=20)
    b = loaded.generate("A cat.", seed=3, force_image=True, max_new_tokens=20)
    assert a.token_ids == b.token_ids
    assert torch.equal(a.vokens, b.vokens)
    assert torch.equal(tiny_model.conditioning(a)[0], loaded.conditioning(b)[0])
    pa = tiny_model.render_images(a, steps=2, seed=1)[0]
    pb = loaded.render_images(b, steps=2, seed=1)[0]
    assert pa.tobytes() == pb.tobytes()


def test_round_trip_keeps_training_adapters(fresh_tiny_model, tmp_path):
    trainable_parameters(fresh_tiny_model, 2)
    with torch.no_grad():
        for name, p in fresh_tiny_model.llm.named_parameters():
            if "lora_B" in name:
                p.normal_()
    fresh_tiny_model.save_pretrained(tmp_path / "m")
    loaded = MiniGPT5.from_pretrained(tmp_path / "m")
    assert loaded.adapter_stage == 2
    a = fresh_tiny_model.generate("A cat.", seed=1, max_new_tokens=10)
    b = loaded.generate("A cat.", seed=1, max_new_tokens=10)
    assert a.token_ids == b.token_ids


def test_folder_can_be_loaded_without_the_image_generator(tiny_model_dir):
    loaded = MiniGPT5.from_pretrained(tiny_model_dir, with_image_generator=False)
    assert loaded.image_generator is None
    result = loaded.generate("A cat.", seed=0, force_image=True, max_new_tokens=12)
    with pytest.raises(MiniGPT5Error, match="without an image generator"):
        loaded.render_images(result)


def test_missing_folder_names_the_folder(tmp_path):
    with pytest.raises(MiniGPT5Error, match=str(tmp_path / "nope")):
        MiniGPT5.from_pretrained(tmp_path / "nope")


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "tokenizer"])
def test_missing_file_names_the_file(tiny_model_dir, tmp_path, missing):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    target = copy / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(MiniGPT5Error, match=missing):
        MiniGPT5.from_pretrained(copy)


def test_config_that_does_not_match_the_weights_is_named(tiny_model_dir, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    meta = json.loads((copy / "config.json").read_text())
    meta["config"]["mapper"]["ffn_dim"] = 512
    (copy / "config.json").write_text(json.dumps(meta))
    with pytest.raises(MiniGPT5Error, match=r"shape mismatches .*linear1.weight"):
        MiniGPT5.from_pretrained(copy)


def test_damaged_weights_file_is_a_clear_error(tiny_model_dir, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(MiniGPT5Error, match="damaged"):
        MiniGPT5.from_pretrained(copy)


def test_a_tokenizer_that_splits_img0_is_refused():
    with pytest.raises(MiniGPT5Error, match=r"splits '\[IMG0\]'"):
        check_tokenizer(build_tiny_tokenizer(), num_vokens=8)


def test_unknown_config_field_is_an_error():
    data = MiniGPT5Config.preset("tiny").to_dict()
    data["mapper"]["depth"] = 3
    with pytest.raises(MiniGPT5Error, match="depth"):
        MiniGPT5Config.from_dict(data)


def test_save_replaces_an_existing_model_folder_completely(tiny_model, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model-00001-of-00002.safetensors").write_text("a shard of an earlier, sharded save")
    tiny_model.save_pretrained(folder)
    assert not (folder / "model-00001-of-00002.safetensors").exists()
    assert (folder / "model.safetensors").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging folder left behind


def test_official_shapes_on_the_meta_device():
    cfg = MiniGPT5Config.preset("minigpt5-7b")
    with torch.device("meta"):
        model = MiniGPT5(cfg, tokenizer=None)
    mapper = model.mapper
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(mapper) == 122_899_456
    assert round(count(mapper.fc) / 1e6, 2) == 5.24
    assert round(count(mapper.llm_to_t2i_mapping) / 1e6, 1) == 117.6
    assert mapper.t2i_decoder_prompt.shape == (1, 77, 1024)
    assert mapper.fc[0].weight.shape == (1024, 4096)
    assert mapper.llm_to_t2i_mapping.encoder.layers[0].self_attn.in_proj_weight.shape == (3072, 1024)
    assert model.llm.get_input_embeddings().weight.shape == (32009, 4096)
    assert len(model.llm.model.layers) == 32
    assert len(model.encoder.vision_model.encoder.layers) == 39
    assert model.encoder.query_tokens.shape == (1, 32, 768)
    assert model.encoder.proj.weight.shape == (4096, 768)
    vokens = torch.zeros(2, 8, 4096, device="meta")
    assert mapper(vokens).shape == (2, 77, 1024)
