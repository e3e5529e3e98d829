"""GPU memory of MiniGPT-5 7B per quantize tier, beside Stable Diffusion 2.1, and the smallest GPU that fits.

    .venv/bin/python bench/memory_tiers.py [--pages 5] [--max-new-tokens 256]

Computed, not guessed: the parameter counts come from the real modules built on the meta device (the 7B
config, SD 2.1-base's UNet and VAE configs shipped in minigpt5_core/assets), and the bytes per parameter of
each tier from ONE real full-size LLaMA-7B decoder layer quantized on this CPU (bitsandbytes through
`LLMQuantizer`, the code `from_pretrained(quantize=...)` runs): its state, quantization statistics included.
The same layer's output on one token is compared with the bf16 layer's (cosine), so the table shows what each
tier costs in accuracy too. Embeddings, lm_head, ViT-g, Q-Former and mapper stay fp16 in every tier.

What is NOT computed here and is stated as an allowance (bench/gpu_story.py measures it on a GPU): the CUDA
context, activations of the LLM phase, and SD's sampling activations at 512 px (batch 2 for guidance).
ComfyUI runs the phases one after the other: the LLM phase (LLM, Q-Former, mapper, KV cache, ViT-g if the
story starts from pictures) is offloaded when the UNet loads, so a GPU must hold the larger phase, not both.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from minigpt5_core import MiniGPT5, MiniGPT5Config
from minigpt5_core.config import LLMConfig
from minigpt5_core.modeling.llm import llama_config
from minigpt5_core.modeling.quantize import QUANTIZE_TIERS, LLMQuantizer
from minigpt5_core.prompts import NEXT_SCENE_INSTRUCTION

GIB = 2**30
FP16 = 2
GPU_SIZES_GIB = (6, 8, 10, 11, 12, 16, 20, 24, 32, 40, 48, 80)
# Allowances (bytes) for what only a GPU can measure; bench/gpu_story.py prints the measured values.
CUDA_CONTEXT = int(0.5 * GIB)  # CUDA context + cuBLAS workspace, outside torch's allocator
LLM_ACTIVATIONS = int(0.25 * GIB)  # decode step + a 32-query image prefill, fp16
SD_ACTIVATIONS = int(1.5 * GIB)  # UNet at 64x64 latents, batch 2 (CFG), SDPA attention; VAE decode of 512 px


@dataclass
class TierBytes:
    """Measured bytes per parameter of one decoder layer in a tier, and its output's cosine to bf16."""

    tier: str
    bytes_per_param: float
    cosine: float
    seconds: float


def state_bytes(module: torch.nn.Module) -> int:
    """Bytes of everything the module holds: weights plus bitsandbytes' scales and code books."""
    return sum(t.numel() * t.element_size() for t in module.state_dict().values() if isinstance(t, torch.Tensor))


def _real_layer(config, tier: str, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """One LlamaDecoderLayer built on meta, then given `weights` (bf16), quantized by `LLMQuantizer` as it loads."""
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    with torch.device("meta"):
        layer = LlamaDecoderLayer(config, layer_idx=0)
    quantizer = LLMQuantizer(tier, torch.bfloat16)
    quantizer.prepare(layer)
    plain = {}
    for name, weight in weights.items():
        if quantizer.owns(layer, name):
            quantizer.assign(layer, name, weight.clone())
        else:
            plain[name] = weight.clone()
    layer.load_state_dict(plain, strict=False, assign=True)
    return layer.eval()


def measure_tiers(llm: LLMConfig, tiers=QUANTIZE_TIERS, seed: int = 0) -> list[TierBytes]:
    """Quantize one real decoder layer of `llm`'s shape per tier; bytes/param and output cosine against bf16."""
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    config = llama_config(llm, attn_implementation="sdpa")
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer

        shapes = {name: p.shape for name, p in LlamaDecoderLayer(config, layer_idx=0).named_parameters()}
    weights = {name: (torch.ones(shape) if name.endswith("layernorm.weight")
                      else torch.randn(shape, generator=generator) * shape[-1] ** -0.5).to(torch.bfloat16)
               for name, shape in shapes.items()}
    params = sum(w.numel() for w in weights.values())
    tokens = torch.randn(1, 4, llm.hidden_size, generator=generator).to(torch.bfloat16)
    positions = torch.arange(4).unsqueeze(0)
    rotary = LlamaRotaryEmbedding(config)
    embeddings = tuple(t.to(torch.bfloat16) for t in rotary(tokens, positions))
    results, reference = [], None
    for tier in tiers:
        start = time.perf_counter()
        layer = _real_layer(config, tier, weights)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            out = layer(tokens, position_embeddings=embeddings, position_ids=positions)
            out = (out[0] if isinstance(out, tuple) else out).float().flatten()
        reference = out if reference is None else reference
        cosine = torch.nn.functional.cosine_similarity(out, reference, dim=0).item()
        results.append(TierBytes(tier, state_bytes(layer) / params, cosine, seconds))
        del layer
    return results


def part_params(config: MiniGPT5Config) -> dict[str, int]:
    """Parameter counts of each part, from the real modules built on the meta device."""
    with torch.device("meta"):
        model = MiniGPT5(config, tokenizer=None)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    llm = model.llm
    layers = sum(count(layer) for layer in llm.model.layers)
    return {
        "vit": count(model.encoder.vision_model),
        "qformer": count(model.encoder.qformer) + model.encoder.query_tokens.numel() + count(model.encoder.proj),
        "mapper": count(model.mapper),
        "llm_layers": layers,
        "llm_embeddings": count(llm) - layers,  # embed_tokens + lm_head + final norm
    }


def sd21_params() -> dict[str, int]:
    """SD 2.1-base UNet and VAE parameter counts, from the configs shipped with the library."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from minigpt5_core.modeling.diffusion import SD21_BASE_CONFIG

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SD21_BASE_CONFIG / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SD21_BASE_CONFIG / "vae"))
    return {"unet": sum(p.numel() for p in unet.parameters()), "vae": sum(p.numel() for p in vae.parameters())}


def story_tokens(config: MiniGPT5Config, pages: int, max_new_tokens: int) -> int:
    """An upper bound on a story's context: the prompt and each page's instruction (3 characters per token,
    LLaMA's SentencePiece averages about 4 on English), plus every page's full token budget."""
    prompt = len(config.system_prompt) // 3 + 64  # the system prompt, chat template and an opening line
    per_page = max_new_tokens + len(NEXT_SCENE_INSTRUCTION) // 3 + 8
    return min(config.llm.max_position_embeddings, prompt + pages * per_page)


def kv_bytes(llm: LLMConfig, tokens: int, element_bytes: int = FP16) -> int:
    return 2 * llm.num_layers * tokens * llm.hidden_size * element_bytes  # keys and values, every layer


def smallest_gpu(needed: int) -> str:
    for size in GPU_SIZES_GIB:
        if needed <= size * GIB:
            return f"{size} GB"
    return f"> {GPU_SIZES_GIB[-1]} GB"


def table(config: MiniGPT5Config, tiers: list[TierBytes], pages: int, max_new_tokens: int) -> list[str]:
    parts, sd = part_params(config), sd21_params()
    tokens = story_tokens(config, pages, max_new_tokens)
    kv_story = kv_bytes(config.llm, tokens)
    kv_static = kv_bytes(config.llm, config.llm.max_position_embeddings)
    vit, qformer, mapper = (FP16 * parts[k] for k in ("vit", "qformer", "mapper"))
    sd_phase = FP16 * (sd["unet"] + sd["vae"]) + SD_ACTIVATIONS + CUDA_CONTEXT
    g = lambda n: f"{n / GIB:6.2f}"  # noqa: E731
    lines = [
        f"parameters: LLM {(parts['llm_layers'] + parts['llm_embeddings']) / 1e9:.2f} B "
        f"(decoder layers {parts['llm_layers'] / 1e9:.2f} B), ViT-g {parts['vit'] / 1e9:.2f} B, "
        f"Q-Former+proj {parts['qformer'] / 1e6:.0f} M, mapper {parts['mapper'] / 1e6:.0f} M; "
        f"SD 2.1 UNet {sd['unet'] / 1e6:.0f} M + VAE {sd['vae'] / 1e6:.0f} M",
        f"{pages}-page story: at most {tokens} positions -> KV cache {kv_story / GIB:.2f} GiB fp16 "
        f"(static cache of all {config.llm.max_position_embeddings}: {kv_static / GIB:.2f} GiB)",
        f"allowances (measure with bench/gpu_story.py): CUDA context {CUDA_CONTEXT / GIB:.2f}, LLM activations "
        f"{LLM_ACTIVATIONS / GIB:.2f}, SD activations at 512 px {SD_ACTIVATIONS / GIB:.2f} GiB",
        f"SD phase (UNet + VAE fp16 + activations + context): {sd_phase / GIB:.2f} GiB",
        "",
        "tier  B/param layer-cos | GiB:  LLM    ViT  QF+map     KV | LLM phase  +ViT | both resident | smallest GPU"
        " (phased, ViT on CPU / on GPU)",
    ]
    for t in tiers:
        llm_bytes = t.bytes_per_param * parts["llm_layers"] + FP16 * parts["llm_embeddings"]
        phase = llm_bytes + qformer + mapper + kv_story + LLM_ACTIVATIONS + CUDA_CONTEXT
        phase_vit = phase + vit
        resident = phase_vit + sd_phase - CUDA_CONTEXT
        lines.append(
            f"{t.tier:5s} {t.bytes_per_param:7.3f} {t.cosine:9.4f} |     {g(llm_bytes)} {g(vit)} {g(qformer + mapper)} "
            f"{g(kv_story)} |    {g(phase)} {g(phase_vit)} |        {g(resident)} | "
            f"{smallest_gpu(max(phase, sd_phase))} / {smallest_gpu(max(phase_vit, sd_phase))}"
            f" (both resident: {smallest_gpu(resident)})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="per page (default: the model's, 256)")
    args = parser.parse_args()
    config = MiniGPT5Config.preset("minigpt5-7b")
    max_new_tokens = args.max_new_tokens or config.generation.max_new_tokens
    tiers = measure_tiers(config.llm)
    for t in tiers:
        print(f"measured one 7B decoder layer in {t.tier}: {t.bytes_per_param:.3f} bytes/param, output cosine to "
              f"bf16 {t.cosine:.4f} (built and quantized in {t.seconds:.1f} s)")
    print("\n".join(table(config, tiers, args.pages, max_new_tokens)))


if __name__ == "__main__":
    main()
