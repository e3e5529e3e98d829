"""Training the shapes-world MiniGPT-5, phase by phase; each phase writes its folder under `out`.

    tokenizer   byte-level BPE on the world's text
    judge       the picture classifier used by evaluation (colour/shape per slot)
    vae         a tiny AutoencoderKL, 32 px -> 16x16x4 (scaling_factor = 1/std of its latents)
    generator   the Stable Diffusion analog: CLIPTextModel + UNet2DConditionModel trained on captions,
                clean-sample prediction, cosine schedule, 10% empty captions (for guidance)
    vision      the BLIP-2 analog: ViT + Q-Former pretrained to make every object readable from the
                query tokens, frozen afterwards
    lm          the MiniGPT-4 analog: projection + Llama trained on captioning and story text (all
                text targets) over the frozen vision encoder
    variants    MiniGPT-5 stage 1 (caption pairs) and stage 2 (stories; every picture carries its exact
                scene caption) with `MiniGPT5.losses`, for the full model and the ablations

A phase whose folder exists is skipped, so an interrupted run resumes. Everything is seeded.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import random
import shutil
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from PIL import ImageFilter
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm
from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, get_linear_schedule_with_warmup

from ..train import stages
from ..train.losses import compute_losses, text_loss
from ..config import MiniGPT5Config
from ..errors import MiniGPT5Error
from ..modeling.diffusion import ImageGenerator
from ..modeling.model import MiniGPT5
from ..modeling.vision import ImageEncoder, preprocess_images
from . import data
from .judge import train_judge
from .world import COLOURS, SHAPES, SIZES, SLOTS, Scene, ShapesWorld


@dataclass
class Steps:
    """Optimiser steps per phase (times measured on 2 CPU cores: docs/training.md)."""

    judge: int = 800
    vae: int = 600
    generator: int = 1300
    vision: int = 2000
    lm: tuple[int, ...] = (500,) * 6
    stage1: int = 1000
    stage2: tuple[int, ...] = (800, 800)  # rounds, each with its own warm-up and decay


@dataclass(frozen=True)
class Variant:
    """How an ablation departs from the full model (None: as the configuration says)."""

    stage1: bool = True
    cfg_dropout: float | None = None
    caption_loss_weight: float | None = None


VARIANTS = {
    "full": Variant(),
    "no-stage1": Variant(stage1=False),
    "no-cfg": Variant(cfg_dropout=0.0),
    "no-caption-loss": Variant(caption_loss_weight=0.0),
}


def _log(bar: tqdm, step: int, every: int, **values: float) -> None:
    if step % every == 0:
        bar.set_postfix({k: f"{v:.4f}" for k, v in values.items()})
        tqdm.write(f"  step {step}: " + " ".join(f"{k}={v:.4f}" for k, v in values.items()))


def _optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                    schedule: torch.optim.lr_scheduler.LRScheduler, params: list[torch.nn.Parameter]) -> None:
    """One clipped (norm 1) AdamW step and a scheduler step: every phase but the VAE trains this way."""
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    schedule.step()


# ---- the image generator (Stable Diffusion analog) ---------------------------------------------------


def new_scheduler() -> DDIMScheduler:
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1, prediction_type="sample")


def train_vae(out: Path, steps: int, seed: int = 0) -> None:
    torch.manual_seed(seed)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        layers_per_block=1, norm_num_groups=8, sample_size=data.SIZE)
    pool = data.pictures(data.caption_scenes(6000))
    optimizer = torch.optim.AdamW(vae.parameters(), lr=2e-3, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, 50, steps)
    gen = torch.Generator().manual_seed(seed)
    vae.train()
    with tqdm(range(steps), desc="vae", unit="step") as bar:
        for step in bar:
            x = pool[torch.randint(0, len(pool), (16,), generator=gen)]
            dist = vae.encode(x).latent_dist
            recon = vae.decode(dist.sample(generator=gen)).sample
            rec = F.mse_loss(recon, x)
            kl = dist.kl().mean() / x[0].numel()
            loss = rec + 1e-4 * kl
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            _log(bar, step, 200, rec=rec.item(), kl=kl.item())
    vae.eval()
    with torch.no_grad():
        latents = torch.cat([vae.encode(pool[i:i + 500]).latent_dist.mean for i in range(0, 2000, 500)])
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    tqdm.write(f"vae: latent std {latents.std():.3f}, scaling_factor {vae.config.scaling_factor:.3f}")
    vae.save_pretrained(out)


def build_text_encoder(tokenizer, width: int, max_length: int) -> CLIPTextModel:
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=max_length, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))


def train_generator(out: Path, vae_dir: Path, tokenizer_dir: Path, config: MiniGPT5Config, steps: int,
                    seed: int = 0) -> None:
    """Text encoder + UNet on (caption, picture) with clean-sample prediction; plain x0 MSE so that the
    high-noise steps, which decide colour and layout, are learnt too."""
    torch.manual_seed(seed)
    diff = config.diffusion
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    vae = AutoencoderKL.from_pretrained(vae_dir).eval()
    text_encoder = build_text_encoder(tokenizer, diff.cross_attention_dim, diff.caption_max_length)
    unet = UNet2DConditionModel(
        sample_size=diff.resolution // 2, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=diff.cross_attention_dim,
        attention_head_dim=8, norm_num_groups=8)
    generator = ImageGenerator(unet, vae, new_scheduler(), text_encoder, tokenizer)
    scenes = data.caption_scenes(8000)
    captions = [data.describe(s) for s in scenes]
    with torch.no_grad():
        pool = data.pictures(scenes)
        moments = [vae.encode(pool[i:i + 500]).latent_dist for i in range(0, len(pool), 500)]
        means = torch.cat([m.mean for m in moments]) * vae.config.scaling_factor
        stds = torch.cat([m.std for m in moments]) * vae.config.scaling_factor
    params = list(unet.parameters()) + list(text_encoder.parameters())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, 100, steps)
    gen, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    alphas = generator.scheduler.alphas_cumprod
    unet.train()
    text_encoder.train()
    with tqdm(range(steps), desc="generator", unit="step") as bar:
        for step in bar:
            idx = torch.randint(0, len(pool), (24,), generator=gen)
            latents = means[idx] + stds[idx] * torch.randn(means[idx].shape, generator=gen)
            texts = [captions[i] if rng.random() >= 0.1 else "" for i in idx.tolist()]
            cond = generator.caption_features(texts, diff.caption_max_length)
            noise = torch.randn(latents.shape, generator=gen)
            t = torch.randint(0, 1000, (len(idx),), generator=gen)
            noisy = generator.scheduler.add_noise(latents, noise, t)
            pred = unet(noisy, t, encoder_hidden_states=cond).sample
            loss = F.mse_loss(pred, latents)
            _optimizer_step(loss, optimizer, schedule, params)
            _log(bar, step, 200, x0_mse=loss.item(), snr_mid=float(alphas[500] / (1 - alphas[500])))
    generator.requires_grad_(False)
    generator.eval()
    generator.save(out)


# ---- the image encoder (BLIP-2 analog) ------------------------------------------------------------------

VISION_CLASSES = 1 + len(SHAPES) * len(COLOURS) * len(SIZES)


def vision_labels(scene: Scene) -> list[int]:
    """Per slot: 0 = empty, else 1 + the (shape, colour, size) index: everything a caption names."""
    labels = [0] * len(SLOTS)
    for t in scene:
        kind = (SHAPES.index(t.shape) * len(COLOURS) + list(COLOURS).index(t.colour)) * len(SIZES)
        labels[list(SLOTS).index(t.slot)] = 1 + kind + list(SIZES).index(t.size)
    return labels


def _encoder_pixels(scenes: list[Scene], image_size: int, rng: np.random.Generator) -> torch.Tensor:
    """Renders with blur and noise (the encoder also reads the model's own, imperfect pictures)."""
    images = []
    for scene in scenes:
        image = data.render(scene, data.SIZE)
        if rng.random() < 0.5:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.9)))
        images.append(image)
    pixels = preprocess_images(images, image_size)
    return pixels + torch.from_numpy(rng.normal(0, 0.1, size=pixels.shape)).float() * float(rng.random())


def train_vision(out: Path, config: MiniGPT5Config, steps: int, seed: int = 0) -> None:
    """ViT + Q-Former pretrained so that every slot's object can be read from the query tokens (a linear
    head over them predicts shape, colour and size per slot), then frozen in the LM phase, as MiniGPT-4
    freezes BLIP-2's encoder. Trained jointly with the LM from scratch instead, the encoder collapsed to
    a constant output (std across images 0.002) and the LM learnt to ignore pictures. A head that reads
    slot i from query token i alone also reached 1.0, but an LM over that encoder captioned almost no
    held-out picture after 2500 steps, so the head reads all query tokens together.
    Measured and not shipped: an attention probe per slot (one learnt query over the tokens, 4000 steps) made
    two-object pictures far easier for the LM (exact captions 14/14 after 1000 LM steps, against 6/14 after
    1500), but the full model scored the same gen accuracy (0.785 on 20 stories) with less valid narration
    (0.74): the voken -> picture path, not the LM, then limits two-object scenes (0.63 where the LM names them)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vision = config.vision
    encoder = ImageEncoder(vision, config.llm.hidden_size)
    head = nn.Linear(vision.num_query_tokens * vision.qformer_hidden_size, len(SLOTS) * VISION_CLASSES)
    world = ShapesWorld(data.TRAIN_SEED)
    scenes = [world.scene(i) for i in range(8000)] + [()] * 80
    params = [p for n, p in encoder.named_parameters() if not n.startswith("proj.")] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, 50, steps)
    encoder.train()
    with tqdm(range(steps), desc="vision encoder", unit="step") as bar:
        for step in bar:
            batch = [scenes[i] for i in rng.integers(0, len(scenes), 32)]
            logits = head(encoder.query_states(_encoder_pixels(batch, vision.image_size, rng)).flatten(1))
            labels = torch.tensor([vision_labels(s) for s in batch])
            loss = F.cross_entropy(logits.view(-1, VISION_CLASSES), labels.view(-1))
            _optimizer_step(loss, optimizer, schedule, params)
            _log(bar, step, 200, ce=loss.item())
    encoder.eval()
    check = [ShapesWorld(data.EVAL_SEED).scene(i) for i in range(300)]
    with torch.no_grad():
        pixels = preprocess_images([data.render(s, data.SIZE) for s in check], vision.image_size)
        predicted = head(encoder.query_states(pixels).flatten(1)).view(-1, len(SLOTS), VISION_CLASSES).argmax(-1)
    accuracy = (predicted == torch.tensor([vision_labels(s) for s in check])).float().mean().item()
    tqdm.write(f"vision encoder: slot accuracy on 300 held-out pictures {accuracy:.4f}")
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items() if not k.startswith("proj.")},
              out / "encoder.safetensors")
    (out / "vision.json").write_text(json.dumps({"slot_accuracy": accuracy, "steps": steps}))


def load_vision(model: MiniGPT5, vision_dir: Path) -> None:
    """Put the pretrained ViT + Q-Former into `model.encoder` (the projection stays as initialised)."""
    missing, unexpected = model.encoder.load_state_dict(load_file(vision_dir / "encoder.safetensors"), strict=False)
    if unexpected or any(not k.startswith("proj.") for k in missing):
        raise MiniGPT5Error(f"the vision weights in {vision_dir} do not fit this encoder (missing {missing}, "
                            f"unexpected {unexpected}): they were trained for another configuration; delete "
                            f"{vision_dir} and rerun to train them again")


# ---- the MiniGPT-4 analog ---------------------------------------------------------------------------


def train_lm(out: Path, tokenizer_dir: Path, vision_dir: Path, config: MiniGPT5Config, rounds: tuple[int, ...],
             seed: int = 0) -> None:
    """Text targets only, so it needs no image generator (and can run beside the generator phase).
    The pretrained ViT + Q-Former stay frozen; the projection and the LLM learn.

    Several rounds (each with its own warm-up and decay): the second round is where the model starts
    to read its context instead of the world's averages."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MiniGPT5(config, tokenizer, None)
    load_vision(model, vision_dir)
    for r, steps in enumerate(rounds):
        lm_round(model, steps, seed + r, f"lm (MiniGPT-4 analog) round {r + 1}/{len(rounds)}")
    model.save_pretrained(out)


def lm_round(model: MiniGPT5, steps: int, seed: int, desc: str) -> None:
    torch.manual_seed(seed)
    model.encoder.requires_grad_(False)
    model.encoder.proj.requires_grad_(True)
    model.llm.requires_grad_(True)
    params = list(model.encoder.proj.parameters()) + list(model.llm.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, 100, steps)
    world, rng = ShapesWorld(data.TRAIN_SEED), random.Random(seed)
    model.train()
    model.encoder.eval()  # frozen: no Q-Former dropout
    with tqdm(range(steps), desc=desc, unit="step") as bar:
        for step in bar:
            batch = []
            for _ in range(2):
                story = world.story(rng.randrange(10**6), steps=data.STORY_PAGES + 2)
                batch += data.pretraining_samples(story, model.config.system_prompt, rng)
            loss = text_loss(model, batch)
            _optimizer_step(loss, optimizer, schedule, params)
            _log(bar, step, 100, text=loss.item())
    model.requires_grad_(False)
    model.eval()


# ---- MiniGPT-5 stages 1 and 2 ---------------------------------------------------------------------------


def _run_stage(model: MiniGPT5, stage: int, steps: int, sampler, seed: int, desc: str) -> None:
    cfg = model.config.training
    groups = stages.parameter_groups(model, stage)
    optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay, eps=cfg.adam_eps)
    schedule = get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, steps)
    params = [p for g in groups for p in g["params"]]
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with tqdm(range(steps), desc=desc, unit="step") as bar:
        for step in bar:
            out = compute_losses(model, sampler(step), stage, gen)
            _optimizer_step(out.total, optimizer, schedule, params)
            values = {"total": out.total.item(), "text": out.text.item(), "ldm": out.ldm.item()}
            if out.caption is not None:
                values["cap"] = out.caption.item()
            _log(bar, step, 100, **values)
    model.eval()


def train_variant(out: Path, lm_dir: Path, generator_dir: Path, config: MiniGPT5Config, name: str, steps: Steps,
                  seed: int = 0) -> None:
    """MiniGPT-5 stages 1 and 2 on top of the LM phase, with `config`'s training settings (the LM
    folder's own copy may predate them) changed as the variant says."""
    variant = VARIANTS[name]
    torch.manual_seed(seed)  # the LoRA initialisation: the same in a worker process as in this one
    model = MiniGPT5.from_pretrained(lm_dir, image_generator=ImageGenerator.from_folder(generator_dir))
    model.config.training = copy.deepcopy(config.training)
    model.config.diffusion.guidance_scale = config.diffusion.guidance_scale
    train_cfg = model.config.training
    if variant.cfg_dropout is not None:
        train_cfg.cfg_dropout = variant.cfg_dropout
        model.config.diffusion.guidance_scale = 1.0  # no learned null: sample without guidance
    if variant.caption_loss_weight is not None:
        train_cfg.caption_loss_weight = variant.caption_loss_weight
    world, rng = ShapesWorld(data.TRAIN_SEED), random.Random(seed)
    n = model.config.num_vokens
    system = model.config.system_prompt

    def stage1_batch(step: int):
        return [data.caption_sample(world.scene(rng.randrange(10**6)), rng, train_cfg.cc3m_chat_fraction, n)
                for _ in range(12)]

    def stage2_batch(step: int):
        batch = []
        for _ in range(2):
            story = world.story(rng.randrange(10**6))
            gen = data.story_samples(story, "gen", system, n)
            mm = data.story_samples(story, "multimodal", system, n)
            batch += rng.sample(gen, 2) + rng.sample(mm, 2)
        batch.append(data.story_chat_sample(world.story(rng.randrange(10**6), steps=data.STORY_PAGES + 1),
                                            system, n))
        return batch

    if variant.stage1:
        _run_stage(model, 1, steps.stage1, stage1_batch, seed, f"{name}: stage 1")
    for r, round_steps in enumerate(steps.stage2):
        if r:  # later rounds start from the merged model with a fresh LoRA, seeded per round
            torch.manual_seed(seed + r)
            rng.seed(seed + r)
        _run_stage(model, 2, round_steps, stage2_batch, seed + 1 + r,
                   f"{name}: stage 2 round {r + 1}/{len(steps.stage2)}")
        model.merge_adapters()
    model.save_pretrained(out)


# ---- the whole run ---------------------------------------------------------------------------------------


def _phase(name: str, folder: Path, run, *args) -> Path:
    """Run one phase into `folder` (through a `.partial` folder, renamed when done); skip it if it exists."""
    if folder.exists():
        tqdm.write(f"[{name}] {folder} exists, skipped")
        return folder
    tqdm.write(f"[{name}] -> {folder}")
    t0 = time.time()
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    run(staging, *args)
    staging.rename(folder)
    tqdm.write(f"[{name}] done in {(time.time() - t0) / 60:.1f} min")
    return folder


def _save_tokenizer(folder: Path) -> None:
    data.build_tokenizer().save_pretrained(folder)


def _image_generator_phases(out: Path, tok: Path, config: MiniGPT5Config, steps: Steps) -> Path:
    vae = _phase("vae", out / "vae", train_vae, steps.vae)
    return _phase("generator", out / "generator", train_generator, vae, tok, config, steps.generator)


def _language_phases(out: Path, tok: Path, config: MiniGPT5Config, steps: Steps) -> Path:
    vision = _phase("vision", out / "vision", train_vision, config, steps.vision)
    return _phase("lm", out / "lm", train_lm, tok, vision, config, steps.lm)


def _share_the_cores(workers: int) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _executor(workers: int) -> Executor:
    """Worker processes (spawned: each imports torch afresh and gets its share of the cores), or, for
    one worker, a single thread that runs the phases one after another in this process."""
    if workers <= 1:
        return ThreadPoolExecutor(max_workers=1)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_share_the_cores, initargs=(workers,))


def train_all(out: str | Path, *, variants: list[str], steps: Steps = Steps(), ship: Path | None = None,
              judge_dir: Path | None = None, workers: int = 2) -> Path:
    """Every phase, `workers` at a time where they do not depend on each other: the image generator
    (vae, generator) beside the language side (vision, lm) and the judge, then the variants."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = MiniGPT5Config.preset("toy")
    started = time.time()
    tok = _phase("tokenizer", out / "tokenizer", _save_tokenizer)
    with _executor(workers) as pool:
        sd = pool.submit(_image_generator_phases, out, tok, config, steps)
        lm = pool.submit(_language_phases, out, tok, config, steps)
        judge = pool.submit(_phase, "judge", out / "judge", train_judge, steps.judge)
        sd, lm, judge = sd.result(), lm.result(), judge.result()
        runs = [pool.submit(_phase, f"variant {name}", out / "variants" / name, train_variant, lm, sd, config,
                            name, steps) for name in variants]
        for run in runs:
            run.result()
    tqdm.write(f"training finished in {(time.time() - started) / 60:.1f} min (this run)")
    (out / "steps.json").write_text(json.dumps({k: v for k, v in steps.__dict__.items()}, indent=2))
    if ship is not None and "full" in variants:
        shutil.rmtree(ship, ignore_errors=True)
        shutil.copytree(out / "variants" / "full", ship)
        tqdm.write(f"shipped the full model to {ship}")
    if judge_dir is not None:
        shutil.rmtree(judge_dir, ignore_errors=True)
        shutil.copytree(judge, judge_dir)
    return out
