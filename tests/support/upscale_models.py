"""Random-weight upscale model files that spandrel recognises, built in the test process (nothing is committed).

`write_tiny_esrgan` writes what Real-ESRGAN releases (RealESRGAN_x4plus.pth): BasicSR's RRDBNet key names
(conv_first, body.N.rdbM.convK, conv_body, conv_up1, conv_up2, conv_hr, conv_last) nested under "params_ema",
but with 8 features and one block instead of 64 and 23, so a 512 px picture goes through 4x in seconds on a CPU.
spandrel reads the growth channels as 32 (as every released ESRGAN has), so those stay at 32.
"""

from __future__ import annotations

from pathlib import Path

GROWTH = 32


def tiny_esrgan_state(features: int = 8, blocks: int = 1, seed: int = 0) -> dict:
    """A 4x RRDBNet state dict with random weights small enough that activations stay in 0..1's range."""
    import torch

    g = torch.Generator().manual_seed(seed)
    state = {}

    def conv(name: str, out_channels: int, in_channels: int) -> None:
        state[f"{name}.weight"] = torch.randn(out_channels, in_channels, 3, 3, generator=g) / (3 * in_channels ** 0.5)
        state[f"{name}.bias"] = torch.full((out_channels,), 0.05)

    conv("conv_first", features, 3)
    for block in range(blocks):
        for rdb in (1, 2, 3):
            for k in range(1, 6):
                conv(f"body.{block}.rdb{rdb}.conv{k}", GROWTH if k < 5 else features, features + (k - 1) * GROWTH)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        conv(name, features, features)
    conv("conv_last", 3, features)
    return state


def write_tiny_esrgan(path: Path, *, seed: int = 0) -> Path:
    """`path` (.pth: a weights-only pickle nested as Real-ESRGAN's; .safetensors: the flat state dict)."""
    import torch
    from safetensors.torch import save_file

    state = tiny_esrgan_state(seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"params_ema": state}, path)
    return path
