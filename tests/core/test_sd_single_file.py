"""SD 2.1-base from ONE original-layout checkpoint file (the one ComfyUI loads), offline.

The files are written here with random weights (tests/support/sd_single_file.py): an SD2-family UNet cut to one level
plus a full-size SD VAE, in the CompVis/LDM key layout of `v2-1_512-ema-pruned.safetensors`.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch

from minigpt5_core import ImageGenerator, MiniGPT5, MiniGPT5Error
from minigpt5_core.modeling.diffusion import SD21_BASE_CONFIG
from sd_single_file import build_sd2_parts, unet_config, write_config_folder, write_sd2_single_file


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to reach a hub fails the test: everything must come from local files."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def sd_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sd")
    path, unet, vae = write_sd2_single_file(folder / "v2-1_512-ema-pruned.safetensors", levels=1, seed=3)
    return path, unet, vae, write_config_folder(folder / "configs", levels=1)


@pytest.fixture(scope="module")
def loaded(sd_file):
    path, _unet, _vae, configs = sd_file
    return ImageGenerator.from_single_file(path, config=configs)


# ---- the shipped configs --------------------------------------------------------------------------------------


def test_shipped_configs_are_diffusers_reading_of_the_official_v2_inference_yaml():
    from diffusers.loaders.single_file_utils import (
        create_unet_diffusers_config_from_ldm,
        create_vae_diffusers_config_from_ldm,
    )

    # Stability-AI/stablediffusion configs/stable-diffusion/v2-inference.yaml (SD 2.x-base, 512 px, eps)
    official = {"model": {"params": {
        "linear_start": 0.00085, "linear_end": 0.0120, "timesteps": 1000, "scale_factor": 0.18215,
        "unet_config": {"params": {
            "in_channels": 4, "out_channels": 4, "model_channels": 320, "attention_resolutions": [4, 2, 1],
            "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4], "num_head_channels": 64,
            "use_spatial_transformer": True, "use_linear_in_transformer": True, "transformer_depth": 1,
            "context_dim": 1024, "legacy": False}},
        "first_stage_config": {"params": {"embed_dim": 4, "ddconfig": {
            "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
            "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}}}}}}
    shipped = {part: json.loads((SD21_BASE_CONFIG / part / name).read_text())
               for part, name in (("unet", "config.json"), ("vae", "config.json"),
                                  ("scheduler", "scheduler_config.json"))}
    with pytest.warns(FutureWarning):  # diffusers deprecates passing image_size; 512 is what 2.1-base is
        unet = create_unet_diffusers_config_from_ldm(official, {}, image_size=512)
        vae = create_vae_diffusers_config_from_ldm(official, {}, image_size=512)
    for key, value in unet.items():
        assert shipped["unet"].get(key) == value, key
    for key, value in vae.items():
        assert shipped["vae"][key] == value, key
    scheduler = shipped["scheduler"]
    params = official["model"]["params"]
    assert (scheduler["beta_start"], scheduler["beta_end"], scheduler["num_train_timesteps"]) == (
        params["linear_start"], params["linear_end"], params["timesteps"])
    assert scheduler["beta_schedule"] == "scaled_linear" and scheduler["prediction_type"] == "epsilon"
    assert shipped["unet"]["upcast_attention"] is False  # only the 768-v model needs it


def test_shipped_unet_config_has_the_official_parameter_count():
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel

    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SD21_BASE_CONFIG / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD21_BASE_CONFIG / "vae"))
    # SD 2.x UNet: 865.9 M parameters; KL-f8 VAE: 83.7 M
    assert sum(p.numel() for p in unet.parameters()) == 865_910_724
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863


# ---- loading a single file ------------------------------------------------------------------------------------


def test_single_file_loads_unet_vae_and_scheduler(sd_file, loaded):
    _path, unet, vae, _configs = sd_file
    config = loaded.unet.config
    assert config.cross_attention_dim == 1024 and config.in_channels == 4 and config.out_channels == 4
    assert config.use_linear_projection is True and list(config.block_out_channels) == [320]
    assert loaded.vae.config.scaling_factor == 0.18215 and loaded.vae.config.latent_channels == 4
    assert loaded.scheduler.config.prediction_type == "epsilon" and loaded.text_encoder is None
    # every tensor is the file's (written as fp16), under its diffusers name
    for mine, theirs in ((loaded.unet, unet), (loaded.vae, vae)):
        got = mine.state_dict()
        for key, value in theirs.state_dict().items():
            assert torch.equal(got[key], value.half().float()), key


def test_a_two_step_64px_render_from_prompt_embeddings(loaded):
    positive = torch.randn(2, 77, 1024, generator=torch.Generator().manual_seed(0))
    negative = torch.zeros(1, 77, 1024)
    pictures = loaded.render(positive, negative, steps=2, guidance=7.5, seed=4, height=64, width=64)
    assert [p.size for p in pictures] == [(64, 64), (64, 64)]
    again = loaded.render(positive[:1], negative, steps=2, guidance=7.5, seed=4, height=64, width=64)
    diff = np.abs(np.asarray(again[0], dtype=int) - np.asarray(pictures[0], dtype=int))
    assert diff.max() <= 2  # seeded: the same picture alone or in a batch (up to batched float rounding)
    assert np.asarray(pictures[0]).std() > 0


def test_a_pickled_ckpt_file_loads_too(sd_file, tmp_path):
    _path, unet, _vae, configs = sd_file
    ckpt, *_ = write_sd2_single_file(tmp_path / "v2-1_512-ema-pruned.ckpt", levels=1, seed=3, fmt="ckpt")
    generator = ImageGenerator.from_single_file(ckpt, config=configs, dtype=torch.bfloat16)
    assert generator.unet.dtype == torch.bfloat16
    key = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    assert torch.equal(generator.unet.state_dict()[key], unet.state_dict()[key].half().bfloat16())


def test_the_shipped_configs_are_the_default(sd_file, monkeypatch):
    import minigpt5_core.modeling.diffusion as diffusion

    path, *_, configs = sd_file
    with pytest.raises(MiniGPT5Error, match="does not fit the configuration in .*sd21-base.*2.1-base"):
        ImageGenerator.from_single_file(path)  # a one-level UNet is not SD 2.1-base
    monkeypatch.setattr(diffusion, "SD21_BASE_CONFIG", configs)
    assert list(ImageGenerator.from_single_file(path).unet.config.block_out_channels) == [320]


def test_the_768_v_file_is_sampled_with_v_prediction(sd_file, tmp_path):
    from safetensors.torch import load_file, save_file

    path, *_, configs = sd_file
    assert ImageGenerator.from_single_file(path, config=configs).scheduler.config.prediction_type == "epsilon"
    state = load_file(path)
    last = max(k for k in state if k.endswith(".1.transformer_blocks.0.norm1.bias") and "output_blocks" in k)
    state[last] = torch.randn(state[last].shape, generator=torch.Generator().manual_seed(0)).half() * 0.2
    save_file(state, tmp_path / "v2-1_768-ema-pruned.safetensors")
    generator = ImageGenerator.from_single_file(tmp_path / "v2-1_768-ema-pruned.safetensors", config=configs)
    assert generator.scheduler.config.prediction_type == "v_prediction"


def test_prediction_type_reads_the_last_output_block_as_comfyui_does():
    from minigpt5_core.modeling.diffusion import prediction_type

    key = "model.diffusion_model.output_blocks.{}.1.transformer_blocks.0.norm1.bias"
    spread = torch.tensor([-0.15, -0.05, 0.05, 0.15])  # std 0.11
    assert prediction_type({key.format(11): spread, key.format(2): spread * 0}) == "v_prediction"
    assert prediction_type({key.format(11): spread * 0.2, key.format(2): spread}) == "epsilon"
    inpainting = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 9, 3, 3), key.format(11): spread}
    assert prediction_type(inpainting) == "epsilon"
    assert prediction_type({}) == "epsilon"


# ---- attaching it to a model -----------------------------------------------------------------------------------


def test_from_pretrained_takes_the_generator_as_a_file_a_folder_or_an_object(sd_file, tmp_path, monkeypatch):
    import minigpt5_core.modeling.diffusion as diffusion
    from minigpt5_core import MiniGPT5Config

    path, *_, configs = sd_file
    model = MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=0)
    model.image_generator = None
    model.save_pretrained(tmp_path / "no-sd")
    assert not (tmp_path / "no-sd" / "sd").exists()

    monkeypatch.setattr(diffusion, "SD21_BASE_CONFIG", configs)  # the cut-down file's configs
    from_file = MiniGPT5.from_pretrained(tmp_path / "no-sd", image_generator=path)
    result = from_file.generate("A fox.", seed=0, max_new_tokens=12, force_image=True)
    pictures = from_file.render_images(result.vokens[:1], steps=2, seed=0, height=64, width=64)
    assert pictures and pictures[0].size == (64, 64)

    tiny_sd = ImageGenerator.tiny_random(MiniGPT5Config.preset("tiny").diffusion)
    tiny_sd.save(tmp_path / "sd-folder")  # a diffusers folder (unet/, vae/, scheduler/, text_encoder/, ...)
    from_folder = MiniGPT5.from_pretrained(tmp_path / "no-sd", image_generator=tmp_path / "sd-folder")
    assert from_folder.image_generator.text_encoder is None  # not needed to draw
    assert from_folder.render_images(result.vokens[:1], steps=2, seed=0)[0].size == (32, 32)
    assert MiniGPT5.from_pretrained(tmp_path / "no-sd", image_generator=tiny_sd).image_generator is tiny_sd


def test_a_generator_of_the_wrong_width_is_refused(tmp_path):
    from minigpt5_core import MiniGPT5Config

    config = MiniGPT5Config.preset("tiny")
    model = MiniGPT5.from_config(config, seed=0)
    model.save_pretrained(tmp_path / "m")
    config.diffusion.cross_attention_dim = 768
    narrow = ImageGenerator.tiny_random(config.diffusion)
    with pytest.raises(MiniGPT5Error, match="cross-attention width 768.*1024-wide"):
        MiniGPT5.from_pretrained(tmp_path / "m", image_generator=narrow)


# ---- errors a user can act on ----------------------------------------------------------------------------------


def test_errors_name_the_file_and_what_is_wrong(sd_file, tmp_path):
    from safetensors.torch import load_file, save_file

    path, *_, configs = sd_file
    with pytest.raises(MiniGPT5Error, match="does not exist.*v2-1_512-ema-pruned"):
        ImageGenerator.from_single_file(tmp_path / "missing.safetensors")
    with pytest.raises(MiniGPT5Error, match="is a folder.*from_folder"):
        ImageGenerator.from_single_file(tmp_path)
    with pytest.raises(MiniGPT5Error, match="no unet/config.json"):
        ImageGenerator.from_single_file(path, config=tmp_path)

    state = load_file(path)
    unet_only = {k: v for k, v in state.items() if k.startswith("model.diffusion_model.")}
    save_file(unet_only, tmp_path / "unet-only.safetensors")
    with pytest.raises(MiniGPT5Error, match="no VAE"):
        ImageGenerator.from_single_file(tmp_path / "unet-only.safetensors", config=configs)
    diffusers_layout = {"conv_in.weight": torch.zeros(320, 4, 3, 3)}
    save_file(diffusers_layout, tmp_path / "diffusion_pytorch_model.safetensors")
    with pytest.raises(MiniGPT5Error, match="not a full Stable Diffusion checkpoint in the original layout"):
        ImageGenerator.from_single_file(tmp_path / "diffusion_pytorch_model.safetensors", config=configs)

    sd15 = dict(state)
    key = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    sd15[key] = torch.zeros(320, 768, dtype=torch.float16)
    save_file(sd15, tmp_path / "v1-5.safetensors")
    with pytest.raises(MiniGPT5Error, match="Stable Diffusion 1.x .*width 768"):
        ImageGenerator.from_single_file(tmp_path / "v1-5.safetensors", config=configs)

    (tmp_path / "damaged.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(MiniGPT5Error, match="cannot be read as safetensors"):
        ImageGenerator.from_single_file(tmp_path / "damaged.safetensors", config=configs)


def test_a_pickle_with_objects_is_refused(sd_file, tmp_path):
    import argparse

    *_, configs = sd_file
    torch.save({"state_dict": {"model.diffusion_model.out.2.bias": torch.zeros(4)}, "hparams": argparse.Namespace()},
               tmp_path / "evil.ckpt")
    with pytest.raises(MiniGPT5Error, match="holds more than tensors.*weights_only=True"):
        ImageGenerator.from_single_file(tmp_path / "evil.ckpt", config=configs)


@pytest.mark.slow
def test_a_full_size_sd21_base_file_loads_with_the_shipped_configs(tmp_path):
    path, unet, _vae = write_sd2_single_file(tmp_path / "v2-1_512-ema-pruned.safetensors", full=True)
    generator = ImageGenerator.from_single_file(path)
    assert sum(p.numel() for p in generator.unet.parameters()) == 865_910_724
    key = "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_v.weight"
    assert torch.equal(generator.unet.state_dict()[key], unet.state_dict()[key].half().float())
    pictures = generator.render(torch.randn(1, 77, 1024), torch.zeros(1, 77, 1024), steps=1, guidance=7.5, seed=0,
                                height=64, width=64)
    assert pictures[0].size == (64, 64)


def test_unet_config_helper_matches_the_written_file(sd_file):
    # the helper's cut-down config is the shipped one with fewer levels, nothing else changed
    shipped = json.loads((SD21_BASE_CONFIG / "unet" / "config.json").read_text())
    cut = unet_config(1)
    assert {k: v for k, v in cut.items() if shipped[k] != v} == {
        "block_out_channels": [320], "attention_head_dim": [5], "down_block_types": ["CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D"], "layers_per_block": 1}
    unet, _ = build_sd2_parts(1)
    assert unet.config.cross_attention_dim == 1024
