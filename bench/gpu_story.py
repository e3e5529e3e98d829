"""On a GPU: a 7B-shaped random MiniGPT-5 per quantize tier, then an SD 2.1-shaped UNet at 512 px.

    .venv/bin/python bench/gpu_story.py [--tiers none,int8,nf4] [--tokens 128] [--unet-steps 20] [--no-compile]
    .venv/bin/python bench/gpu_story.py --dry-run     # CPU, tiny shapes: checks the script end to end

Per tier it prints the peak GPU memory of the LLM phase (weights + a picture through ViT-g + the prompt +
decoding, KV cache included), decode tokens/s through our DecodingSession, eager and (unless --no-compile)
with the fast path (GenerationConfig.static_cache + compile_decode), and that speed against the HBM roofline:
bandwidth / bytes read per token (every weight the step touches, plus the KV cache), the bandwidth being a
measured device-to-device copy. Then the SD phase: the UNet's steps/s at 64x64 latents with batch 2 (CFG),
a VAE decode to 512 px, and their peak memory, with the LLM moved off the GPU first as ComfyUI does.

Weights are random but shaped and stored exactly as loading does it: parameters on the meta device, then
filled on the GPU; a quantized tier's linear weights go through `LLMQuantizer` (the code
`from_pretrained(quantize=...)` runs), so bytes and kernels are the real ones. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence

import torch
from PIL import Image

from minigpt5_core import MiniGPT5, MiniGPT5Config
from minigpt5_core.modeling.generation import SamplingSettings
from minigpt5_core.modeling.quantize import QUANTIZE_TIERS, LLMQuantizer

from memory_tiers import GIB, kv_bytes, state_bytes  # bench/ is the script's folder

PROMPT = "A little fox finds a lantern in the snow. What happens next?"


@dataclasses.dataclass
class Shapes:
    config: MiniGPT5Config
    latent: int  # UNet latent side (64 for 512 px)
    unet: str  # "sd21" (the shipped SD 2.1-base config) or "tiny"


def shapes(dry_run: bool) -> Shapes:
    if dry_run:
        return Shapes(MiniGPT5Config.preset("tiny"), latent=8, unet="tiny")
    return Shapes(MiniGPT5Config.preset("minigpt5-7b"), latent=64, unet="sd21")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_and_reset(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / GIB
    torch.cuda.reset_peak_memory_stats(device)
    return peak


def copy_bandwidth(device: torch.device, gib: float) -> float:
    """Bytes/s of a large on-device copy (read + write), best of 5: the bandwidth a decode step can hope for."""
    n = int(gib * GIB) // 2
    src = torch.empty(n, dtype=torch.float16, device=device)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        dst.copy_(src)
        sync(device)
        best = min(best, time.perf_counter() - start)
    del src, dst
    return 2 * n * 2 / best


def random_model(config: MiniGPT5Config, tier: str, device: torch.device, dtype: torch.dtype) -> MiniGPT5:
    """A random model with loading's layout: parameters on meta, then filled on `device` (a quantized tier's
    linear weights through LLMQuantizer, one at a time). The tokenizer is the tiny preset's, so the embedding
    table and lm_head have its few hundred rows instead of 32009 (about 2% of a 7B model's bytes per token,
    and the roofline below is computed from the bytes actually present)."""
    from accelerate import init_empty_weights

    from minigpt5_core.modeling.tiny_tokenizer import build_tiny_tokenizer

    config.llm.vocab_size = 0  # the tokenizer's size
    with init_empty_weights(include_buffers=False):
        model = MiniGPT5(config, build_tiny_tokenizer())
    quantizer = LLMQuantizer(tier, dtype, work_device=device)
    quantizer.prepare(model.llm)
    generator = torch.Generator(device=device).manual_seed(0)
    for name, param in list(model.named_parameters()):
        if name.endswith(("norm.weight", "LayerNorm.weight", "layernorm.weight")):
            value = torch.ones(param.shape, device=device, dtype=dtype)
        else:  # fan-in scaled, small enough that 32 fp16 layers of random weights stay finite
            value = torch.randn(param.shape, generator=generator, device=device, dtype=dtype) * 0.5 * param.shape[-1] ** -0.5
        part, rest = name.split(".", 1)
        if part == "llm" and quantizer.owns(model.llm, rest):
            quantizer.assign(model.llm, rest, value)
        else:
            module_name, leaf = name.rsplit(".", 1)
            setattr(model.get_submodule(module_name), leaf, torch.nn.Parameter(value, requires_grad=False))
    return model.to(device).eval()


def fmt(gib: float | None) -> str:
    return "n/a" if gib is None else f"{gib:.2f} GiB"


def decode_bytes_per_token(model: MiniGPT5, context: int) -> int:
    """Bytes one decode step reads: every LLM weight but the input embedding table (one row), plus the KV cache."""
    embed = model.llm.get_input_embeddings().weight
    weights = state_bytes(model.llm) - embed.numel() * embed.element_size()
    return weights + kv_bytes(model.config.llm, context, embed.element_size())


def decode(model: MiniGPT5, tokens: int, device: torch.device) -> tuple[float, int, int]:
    """(seconds, tokens generated, final context) for one turn after a prompt with one picture."""
    picture = Image.new("RGB", (224, 224), (200, 120, 40))
    session = model.start_session(PROMPT, [picture])
    settings = SamplingSettings(max_new_tokens=tokens, temperature=1.0, top_p=0.9, repetition_penalty=1.0,
                                stop_text="\x00never\x00")
    sync(device)
    start = time.perf_counter()
    result = session.sample_turn(settings, torch.Generator().manual_seed(0))
    sync(device)
    return time.perf_counter() - start, len(result.token_ids), session.length


def llm_phase(shape: Shapes, tier: str, device: torch.device, dtype: torch.dtype, tokens: int, bandwidth: float,
              compile_step: bool, warm_up: int) -> list[str]:
    config = dataclasses.replace(shape.config, llm=dataclasses.replace(shape.config.llm))
    peak_and_reset(device)
    start = time.perf_counter()
    model = random_model(config, tier, device, dtype)
    sync(device)
    built = time.perf_counter() - start
    weights_peak = peak_and_reset(device)
    decode(model, warm_up, device)  # warm-up (cuBLAS handles, bitsandbytes kernels)
    seconds, generated, context = decode(model, tokens, device)
    phase_peak = peak_and_reset(device)
    per_token = decode_bytes_per_token(model, context)
    roofline = bandwidth / per_token
    lines = [f"{tier:5s} built in {built:5.1f} s; peak GPU after weights {fmt(weights_peak)}, LLM phase {fmt(phase_peak)}; "
             f"{per_token / 2**20:.1f} MiB read per token -> roofline {roofline:7.1f} tok/s",
             f"      eager decode      {generated / seconds:7.1f} tok/s = {generated / seconds / roofline:5.1%} of roofline"]
    fast = {"static_cache": True, "compile_decode": compile_step}
    model.config.generation = dataclasses.replace(model.config.generation, **fast)
    name = "static+compile" if compile_step else "static cache  "
    try:
        start = time.perf_counter()
        decode(model, warm_up, device)  # compiles the step (and records CUDA graphs) once
        warm = time.perf_counter() - start
        seconds, generated, _ = decode(model, tokens, device)
        lines.append(f"      {name}    {generated / seconds:7.1f} tok/s = {generated / seconds / roofline:5.1%} of "
                     f"roofline (first turn {warm:.1f} s); peak {fmt(peak_and_reset(device))}")
    except Exception as e:  # noqa: BLE001 - one failed path must not cost the rest of a rare GPU run
        lines.append(f"      {name}    FAILED: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
    model.to("cpu")  # what ComfyUI's offload does before the UNet loads
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return lines


def unet_and_vae(kind: str, device: torch.device, dtype: torch.dtype):
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from minigpt5_core.modeling.diffusion import SD21_BASE_CONFIG, ImageGenerator

    if kind == "tiny":
        generator = ImageGenerator.tiny_random(MiniGPT5Config.preset("tiny").diffusion)
        return generator.unet.to(device, dtype), generator.vae.to(device, dtype)
    with torch.device(device):  # random init where the model runs: seconds on a GPU, not a minute on its CPU
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SD21_BASE_CONFIG / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD21_BASE_CONFIG / "vae"))
    return unet.to(device, dtype), vae.to(device, dtype)


@torch.no_grad()
def sd_phase(shape: Shapes, device: torch.device, dtype: torch.dtype, steps: int) -> list[str]:
    peak_and_reset(device)
    unet, vae = unet_and_vae(shape.unet, device, dtype)
    weights_peak = peak_and_reset(device)
    latents = torch.randn(2, 4, shape.latent, shape.latent, device=device, dtype=dtype)
    context = torch.randn(2, 77, shape.config.mapper.d_model, device=device, dtype=dtype)
    timestep = torch.tensor([500], device=device)
    unet(latents, timestep, encoder_hidden_states=context)  # warm-up
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        unet(latents, timestep, encoder_hidden_states=context)
    sync(device)
    rate = steps / (time.perf_counter() - start)
    unet_peak = peak_and_reset(device)
    vae.decode(latents[:1] / vae.config.scaling_factor)
    vae_peak = peak_and_reset(device)
    side = shape.latent * 8
    return [f"SD phase ({shape.unet} UNet, {side} px, batch 2): {rate:.2f} steps/s; peak after weights "
            f"{fmt(weights_peak)}, sampling {fmt(unet_peak)}, VAE decode {fmt(vae_peak)}"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU and tiny shapes (no GPU needed)")
    parser.add_argument("--tiers", default=",".join(QUANTIZE_TIERS))
    parser.add_argument("--tokens", type=int, default=128, help="decoded tokens per measurement")
    parser.add_argument("--unet-steps", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true", help="fast path without torch.compile")
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here; run with --dry-run to check the script on the CPU")
    device = torch.device("cpu" if args.dry_run else "cuda")
    dtype = torch.float32 if args.dry_run else torch.float16
    shape = shapes(args.dry_run)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    bandwidth = copy_bandwidth(device, 0.0625 if args.dry_run else 2.0)
    print(f"{name}; torch {torch.__version__}; copy bandwidth {bandwidth / 1e9:.0f} GB/s; weights {dtype}")
    for tier in args.tiers.split(","):
        for line in llm_phase(shape, tier, device, dtype, args.tokens, bandwidth,
                              compile_step=not args.no_compile and not args.dry_run, warm_up=2 if args.dry_run else 8):
            print(line, flush=True)
    for line in sd_phase(shape, device, dtype, args.unet_steps):
        print(line, flush=True)


if __name__ == "__main__":
    main()
