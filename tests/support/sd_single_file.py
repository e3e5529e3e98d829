"""Random-weight Stable Diffusion 2-shaped checkpoints in the ORIGINAL single-file layout (test helper).

The layout is the one of Stability AI's `v2-1_512-ema-pruned.safetensors` (CompVis/LDM names:
`model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`, `first_stage_model.decoder.up.3...`),
which ComfyUI's CheckpointLoaderSimple and diffusers' `from_single_file` read. The weights are built as diffusers
modules and renamed here; the ComfyUI tests check that ComfyUI's own loader accepts the result, so the names
are not only checked against diffusers' converter.

    write_sd2_single_file(path, levels=1)  -> path  (UNet: SD2 family, `levels` levels of one res block;
                                                     VAE: full SD shape, 84 M params, so any SD loader fits it)
    unet_config(levels)                    -> the diffusers UNet config of that file
Does not import ComfyUI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SD21_ASSETS = Path(__file__).resolve().parents[2] / "minigpt5_core" / "assets" / "sd21-base"


def unet_config(levels: int = 1, layers_per_block: int = 1) -> dict:
    """SD 2.1-base's UNet config cut to `levels` levels (all with cross-attention) of `layers_per_block`."""
    config = json.loads((SD21_ASSETS / "unet" / "config.json").read_text())
    config.update(
        block_out_channels=config["block_out_channels"][:levels],
        attention_head_dim=config["attention_head_dim"][:levels],
        down_block_types=["CrossAttnDownBlock2D"] * levels,
        up_block_types=["CrossAttnUpBlock2D"] * levels,
        layers_per_block=layers_per_block,
    )
    return config


def write_config_folder(folder: Path, levels: int = 1, layers_per_block: int = 1) -> Path:
    """A diffusers-layout config folder (unet/, vae/, scheduler/) for a file written with the same sizes."""
    import shutil

    folder = Path(folder)
    for part in ("vae", "scheduler"):
        shutil.copytree(SD21_ASSETS / part, folder / part, dirs_exist_ok=True)
    (folder / "unet").mkdir(parents=True, exist_ok=True)
    (folder / "unet" / "config.json").write_text(json.dumps(unet_config(levels, layers_per_block), indent=2))
    return folder


# ---- diffusers names -> original (LDM) names --------------------------------------------------------------

_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
           ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection"))


def _unet_key(key: str, layers: int) -> str:
    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    module, param = key.rsplit(".", 1)
    if module in fixed:
        return f"{fixed[module]}.{param}"

    def resnet(rest: str) -> str:
        for new, old in _RESNET:
            if rest.startswith(new + "."):
                return old + rest[len(new):]
        return rest

    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        level, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        n = 1 + level * (layers + 1) + j
        return f"input_blocks.{n}.0.{resnet(rest)}" if kind == "resnets" else f"input_blocks.{n}.1.{rest}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
        return f"input_blocks.{1 + int(m[1]) * (layers + 1) + layers}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
        return f"middle_block.{2 * int(m[1])}.{resnet(m[2])}"
    if m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
        level, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        n = level * (layers + 1) + j
        return f"output_blocks.{n}.0.{resnet(rest)}" if kind == "resnets" else f"output_blocks.{n}.1.{rest}"
    raise KeyError(key)


def _unet_upsampler_key(key: str, layers: int, has_attention: bool) -> str | None:
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
        n = int(m[1]) * (layers + 1) + layers  # the last block of the level
        return f"output_blocks.{n}.{2 if has_attention else 1}.conv.{m[2]}"
    return None


def _vae_key(key: str, levels: int) -> str:
    key = (key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
           .replace("mid_block.resnets.0", "mid.block_1").replace("mid_block.resnets.1", "mid.block_2")
           .replace("mid_block.attentions.0", "mid.attn_1"))
    if ".mid.attn_1." in key:
        key = (key.replace("group_norm", "norm").replace("to_q", "q").replace("to_k", "k").replace("to_v", "v")
               .replace("to_out.0", "proj_out"))
    if m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(.*)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}"
    if m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.*)", key):
        return f"encoder.down.{m[1]}.downsample.{m[2]}"
    if m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(.*)", key):
        return f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}"
    if m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)", key):
        return f"decoder.up.{levels - 1 - int(m[1])}.upsample.{m[2]}"
    return key


def ldm_state_dict(unet, vae) -> dict:
    """diffusers UNet2DConditionModel + AutoencoderKL -> one original-layout state dict."""
    layers = unet.config.layers_per_block
    has_attention = [t.startswith("CrossAttn") for t in unet.config.up_block_types]
    sd = {}
    for key, value in unet.state_dict().items():
        level = re.match(r"up_blocks\.(\d+)\.upsamplers", key)
        name = _unet_upsampler_key(key, layers, has_attention[int(level[1])]) if level else _unet_key(key, layers)
        sd["model.diffusion_model." + name] = value
    levels = len(vae.config.block_out_channels)
    for key, value in vae.state_dict().items():
        name = _vae_key(key, levels)
        if ".mid.attn_1." in name and name.endswith("weight") and value.ndim == 2:
            value = value[:, :, None, None]  # the original VAE attention uses 1x1 convolutions
        sd["first_stage_model." + name] = value
    return sd


def build_sd2_parts(levels: int = 1, layers_per_block: int = 1, seed: int = 0, full: bool = False):
    """Random diffusers UNet (SD2 family, cut down; `full`: SD 2.1-base's own) and SD VAE, seeded."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    config = (json.loads((SD21_ASSETS / "unet" / "config.json").read_text()) if full
              else unet_config(levels, layers_per_block))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(config)
        vae = AutoencoderKL.from_config(json.loads((SD21_ASSETS / "vae" / "config.json").read_text()))
    return unet.eval(), vae.eval()


def write_sd2_single_file(path: Path, *, levels: int = 1, layers_per_block: int = 1, seed: int = 0,
                          fmt: str = "safetensors", full: bool = False):
    """Write the checkpoint (safetensors, or a Lightning-style .ckpt with `state_dict`); returns (path, unet, vae)."""
    import torch
    from safetensors.torch import save_file

    unet, vae = build_sd2_parts(levels, layers_per_block, seed, full)
    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in ldm_state_dict(unet, vae).items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        save_file(sd, str(path))
    else:
        torch.save({"state_dict": sd, "global_step": 0}, path)
    return path, unet, vae
