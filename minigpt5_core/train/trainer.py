"""`python -m minigpt5_core.train --config run.json`: training stage 1 or 2 on accelerate.

    python -m minigpt5_core.train --config run.json                      one process (CPU or one GPU)
    accelerate launch --num_processes 8 -m minigpt5_core.train --config run.json     DDP, many GPUs/machines
    python -m minigpt5_core.train --config run.json --resume latest      continue from the last checkpoint
    python -m minigpt5_core.train --print-config                         the defaults (official values)

The config file (JSON or TOML) holds `TrainConfig` fields; anything left out is the official value
(MINIGPT5_SPEC.md §4): AdamW lr 2e-5 (mapper x10), wd 0.01, eps 1e-8, 1000 warm-up steps then linear
decay, effective batch 48, 2 epochs, bf16 mixed precision. The optimiser settings (`OptimizerConfig`) come
from the model's own `training` section unless the file's "optimizer" mapping overrides some of them.

Effective batch = per-device batch x processes x gradient-accumulation steps; the accumulation is
derived from the other two, so the same file keeps the official effective batch on 1 or 64 GPUs.
Without a GPU, `accelerate launch --multi_gpu --num_processes N` runs N CPU processes (gloo); note that
accelerate 1.15's `launch --cpu --num_processes N` starts ONE process unless it is given an MPI hostfile.

`quantize: "nf4"` (QLoRA) holds the frozen LLM in 4 bits (bitsandbytes) and trains the LoRA adapters, the token
rows and the mapper over it: stage 2 of the 7B model on one 24 GB card (`quantized`, docs/scaling.md).
`accelerate launch --use_fsdp --fsdp_version 2 --fsdp_auto_wrap_policy TRANSFORMER_BASED_WRAP ...` shards the
whole model, frozen parts included, across the processes (`sharding`, docs/scaling.md).

Every sample's randomness (CFG dropout, diffusion noise and timestep, LoRA dropout, CC3M chat wrapping)
is drawn from seeds made of (seed, step, rank), and the data stream's position is saved with each
checkpoint, so a resumed run continues the very same loss curve.

Output folder:
    metrics.jsonl                 one JSON object per logged step (loss terms, lr, epoch) + start/end events
    data_report.json              records read and skipped per data source, by reason
    checkpoints/step-N/model/     our safetensors model folder without the frozen image generator (sd/)
    checkpoints/step-N/           + optimiser, scheduler and RNG state (accelerate's save_state) + trainer_state.json
                                  (under FSDP also accelerate's sharded model/optimizer copies, which resume reads)
    final/                        the trained model folder

A run that seems stuck: `kill -USR1 <pid>` makes that process print every thread's stack to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import stages
from .losses import compute_losses
from ..cli import ArgumentParser, run_cli
from ..config import MiniGPT5Config, OptimizerConfig
from ..data import ReadReport, SampleSource, read_records, sample_specs
from ..errors import MiniGPT5Error
from ..modeling.quantize import check_quantize
from ..modeling.model import MiniGPT5
from .quantized import QuantizedBase
from .sharding import (check_sharding, full_state, full_tensor, is_sharded, keep_whole, no_split_modules,
                       parameters_held)

MODEL_DIR = "model"
OPTIMIZER_FIELDS = tuple(f.name for f in dataclasses.fields(OptimizerConfig))
STATE_FILE = "trainer_state.json"
METRICS_FILE = "metrics.jsonl"


@dataclass
class TrainConfig:
    """One training run. `None` optimiser fields take the model config's `training` values."""

    model: str = "minigpt5-7b"  # a preset name (`tiny` for tests) or a model folder
    stage: int = 1
    data: list[dict[str, Any]] = field(default_factory=list)  # [{"format", "path", "images"?, "image_map"?, "task"?}]
    output_dir: str = "out/train"
    seed: int = 0
    per_device_batch_size: int = 1
    effective_batch_size: int = 48
    epochs: int = 2
    max_steps: int | None = None  # optimiser steps; overrides epochs
    # OptimizerConfig fields to change for this run, e.g. {"learning_rate": 1e-4}; the rest: the model config's
    optimizer: dict[str, float] = field(default_factory=dict)
    max_grad_norm: float | None = None  # the official runs do not clip
    mixed_precision: str = "bf16"  # "no", "bf16" or "fp16"
    gradient_checkpointing: bool = False
    quantize: str = "none"  # "nf4" (QLoRA) or "int8": the frozen LLM's linear layers in bitsandbytes (`quantized`)
    save_every: int = 1000  # optimiser steps between checkpoints (and one at the end)
    keep_checkpoints: int | None = None  # keep only the newest N
    log_every: int = 1

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        if not path.is_file():
            raise MiniGPT5Error(f"training config {path} does not exist")
        if path.suffix == ".toml":
            try:
                import tomllib  # Python 3.11+
            except ImportError:
                raise MiniGPT5Error("TOML configs need Python 3.11 or newer; write the config as JSON") from None
        try:
            raw = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
        except (json.JSONDecodeError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
            raise MiniGPT5Error(f"training config {path} cannot be parsed: {exc}") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        moved = [name for name in unknown if name in OPTIMIZER_FIELDS]
        if moved:
            raise MiniGPT5Error(f"{moved[0]} belongs under \"optimizer\" in a training config, e.g. "
                                f"\"optimizer\": {{\"{moved[0]}\": {raw[moved[0]]!r}}} (TOML: an [optimizer] table)")
        if unknown:
            raise MiniGPT5Error(f"unknown training config fields {unknown}; known: {sorted(known)}")
        cfg = cls(**raw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.stage not in (1, 2):
            raise MiniGPT5Error(f"stage must be 1 or 2, got {self.stage}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise MiniGPT5Error(f"mixed_precision must be 'no', 'bf16' or 'fp16', not {self.mixed_precision!r}")
        check_quantize(self.quantize)
        if not self.data:
            raise MiniGPT5Error("the training config has no 'data' entries")
        for name in ("per_device_batch_size", "effective_batch_size", "epochs", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise MiniGPT5Error(f"{name} must be at least 1")
        unknown = sorted(set(self.optimizer) - set(OPTIMIZER_FIELDS))
        if unknown:
            raise MiniGPT5Error(f"unknown optimizer settings {unknown}; known: {list(OPTIMIZER_FIELDS)}")

    def optimiser(self, model_cfg: MiniGPT5Config) -> OptimizerConfig:
        """The optimiser settings of this run: the model config's (official) ones, changed by `optimizer`."""
        base = {name: getattr(model_cfg.training, name) for name in OPTIMIZER_FIELDS}
        return OptimizerConfig(**{**base, **self.optimizer})


class LossModule(nn.Module):
    """`forward` = `compute_losses`, so that DDP and FSDP (which hook `forward`) synchronise the gradients and
    gather the shards. `_no_split_modules` names the LLM's and the vision tower's layers for FSDP's
    TRANSFORMER_BASED_WRAP."""

    def __init__(self, model: MiniGPT5, stage: int):
        super().__init__()
        self.model = model
        self.stage = stage
        self._no_split_modules = no_split_modules(model.llm, model.encoder)

    def forward(self, batch, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        out = compute_losses(self.model, batch, self.stage, generator)
        nan = torch.tensor(float("nan"))
        terms = torch.stack([out.total.detach().float().cpu(), out.text.detach().float().cpu(),
                             out.ldm.detach().float().cpu(),
                             out.caption.detach().float().cpu() if out.caption is not None else nan])
        return out.total, terms


def _seed(*parts: int) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little") % (2**63)


def build_model(cfg: TrainConfig) -> tuple[MiniGPT5, QuantizedBase | None]:
    """The model to train, and its quantized base when `cfg.quantize` asks for one."""
    if cfg.quantize != "none":
        base = QuantizedBase.load(cfg.model, cfg.quantize, seed=cfg.seed, mixed_precision=cfg.mixed_precision)
        return base.model, base
    if cfg.model in MiniGPT5Config.PRESETS:
        return MiniGPT5.from_config(MiniGPT5Config.preset(cfg.model), seed=cfg.seed), None
    return MiniGPT5.from_pretrained(cfg.model), None


def read_data(cfg: TrainConfig) -> tuple[list, ReadReport, list[ReadReport]]:
    """Every data entry's sample specs, and a report per entry (+ one for images failing at build time)."""
    specs, reports = [], []
    for entry in cfg.data:
        report = ReadReport(f"{entry.get('format')}:{entry.get('path')}")
        records = read_records(entry, report)
        specs.extend(sample_specs(records, entry.get("task"), report, need_output_image=True))
        reports.append(report)
    if not specs:
        raise MiniGPT5Error("no usable training sample in the data: " + "; ".join(r.summary() for r in reports))
    return specs, ReadReport("images decoded during training"), reports


def weights_digest(model: nn.Module) -> str:
    """sha256 of every trainable tensor: equal on all ranks when DDP kept them in step. Under FSDP each tensor is
    gathered whole first, so every rank must call it."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        if p.requires_grad:
            h.update(name.encode())
            h.update(full_tensor(p.detach()).float().cpu().numpy().tobytes())
    return h.hexdigest()


def _latest_checkpoint(output: Path) -> Path | None:
    found = sorted((output / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def train(cfg: TrainConfig, *, resume: str | None = None) -> Path:
    """Run the configured training; returns the folder of the final model."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup

    output = Path(cfg.output_dir)
    # Without a GPU, cpu=True lets accelerate see a torchrun-style launch as multi-CPU DDP (gloo).
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    check_sharding(accelerator, cfg.quantize)
    rank, world = accelerator.process_index, accelerator.num_processes
    per_step = cfg.per_device_batch_size * world
    if cfg.effective_batch_size % per_step:
        raise MiniGPT5Error(
            f"effective_batch_size {cfg.effective_batch_size} is not a multiple of per_device_batch_size "
            f"{cfg.per_device_batch_size} x {world} processes; change one of them"
        )
    accumulation = cfg.effective_batch_size // per_step
    set_seed(cfg.seed)

    model, base = build_model(cfg)
    specs, decode_report, reports = read_data(cfg)
    opt = cfg.optimiser(model.config)
    for name in OPTIMIZER_FIELDS:  # the saved model records what it was trained with
        setattr(model.config.training, name, getattr(opt, name))
    groups = stages.parameter_groups(model, cfg.stage)  # also configures the stage's trainable set
    if base is not None:
        base.trainable_in_float32()
    if cfg.gradient_checkpointing:
        model.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    optimizer = torch.optim.AdamW(groups, weight_decay=opt.weight_decay, eps=opt.adam_eps)
    per_epoch = max(1, (len(specs) // world) // (cfg.per_device_batch_size * accumulation))
    total_steps = cfg.max_steps or per_epoch * cfg.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, min(opt.warmup_steps, total_steps), total_steps)

    stream = SampleSource(specs, decode_report, seed=cfg.seed, rank=rank, world=world,
                          chat_fraction=model.config.training.cc3m_chat_fraction, num_vokens=model.config.num_vokens,
                          style=model.config.prompt_style)
    wrapper = LossModule(model, cfg.stage)
    # The scheduler is stepped by hand once per optimiser step (accelerate's wrapper would step it once
    # per process), and checkpointed as a custom object.
    keep_whole(accelerator, wrapper, model.image_generator)
    wrapper, optimizer = accelerator.prepare(wrapper, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    _register_model_layout_hooks(accelerator, wrapper, model, base)

    step = 0
    if resume:
        checkpoint = _latest_checkpoint(output) if resume == "latest" else Path(resume)
        if checkpoint is None or not (checkpoint / STATE_FILE).is_file():
            raise MiniGPT5Error(f"no checkpoint to resume from at {checkpoint or output / 'checkpoints'}")
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / STATE_FILE).read_text())
        if state["world"] != world:
            raise MiniGPT5Error(f"{checkpoint} was written by {state['world']} processes; resume with the same number")
        step = state["step"]
        stream.seek(state["cursors"][rank])

    held = _gather_objects(accelerator, parameters_held(model))
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        if step:
            _truncate_log(output, step)
        (output / "data_report.json").write_text(json.dumps([r.to_dict() for r in reports], indent=2))
        for r in reports:
            print(r.summary(), file=sys.stderr)
        _log(output, {"event": "start", "step": step, "total_steps": total_steps, "processes": world,
                      "sharded": is_sharded(accelerator), "parameters_per_process": held,
                      "accumulation": accumulation, "effective_batch_size": cfg.effective_batch_size,
                      "samples": len(specs), "stage": cfg.stage, "resumed_from": resume and str(step),
                      "optimiser": dataclasses.asdict(opt), "mixed_precision": cfg.mixed_precision,
                      "quantize": cfg.quantize, **({"frozen_digest": base.frozen_digest()} if base else {})})

    bar = tqdm(total=total_steps, initial=step, disable=not accelerator.is_main_process, desc=f"stage {cfg.stage}")
    while step < total_steps:
        terms = torch.zeros(4)
        for micro in range(accumulation):
            batch = stream.batch(cfg.per_device_batch_size)
            seed = _seed(cfg.seed, step, micro, rank)
            torch.manual_seed(seed)  # LoRA dropout
            generator = torch.Generator().manual_seed(seed)
            # no_sync on all but the last micro-step: gradients are all-reduced once per optimiser step.
            sync = micro == accumulation - 1
            with accelerator.no_sync(wrapper) if not sync else contextlib.nullcontext():
                loss, parts = wrapper(batch, generator)  # prepare() wrapped forward in autocast
                accelerator.backward(loss / accumulation)
            terms += parts / accumulation
        if cfg.max_grad_norm is not None:
            accelerator.clip_grad_norm_([p for g in groups for p in g["params"]], cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        terms = accelerator.reduce(terms.to(accelerator.device), reduction="mean").cpu()
        bar.update(1)
        bar.set_postfix(loss=f"{terms[0].item():.4f}")
        if accelerator.is_main_process and (step % cfg.log_every == 0 or step == total_steps):
            record = {"step": step, "loss": terms[0].item(), "text": terms[1].item(), "ldm": terms[2].item(),
                      "lr": scheduler.get_last_lr()[0], "epoch": stream.epoch}
            if not math.isnan(terms[3].item()):
                record["caption"] = terms[3].item()
            _log(output, record)
        if step % cfg.save_every == 0 or step == total_steps:
            _save_checkpoint(accelerator, output, step, stream, world, cfg.keep_checkpoints)
    bar.close()

    digests = _gather_objects(accelerator, weights_digest(model))
    skipped = _gather_objects(accelerator, decode_report.to_dict())
    final = output / "final"
    state = full_state(accelerator, wrapper, prefix="model.")
    if accelerator.is_main_process:
        with base.full_precision() if base else contextlib.nullcontext():
            model.save_pretrained(final, state=state)
        _log(output, {"event": "end", "step": step, "weights_digest": digests,
                      "decode_skipped": [s["skipped"] for s in skipped],
                      **({"frozen_digest": base.frozen_digest()} if base else {})})
    accelerator.wait_for_everyone()
    if world > 1:
        _FINISHED_DISTRIBUTED_RUN.extend([wrapper, optimizer, accelerator])
    _end_training(accelerator)
    return final


# How long a process waits for torch.distributed to tear down once every output is saved.
SHUTDOWN_TIMEOUT_S = 60.0

# The DDP objects of a finished multi-process run, kept alive until `main` exits the process without
# destructors: freeing them (gloo's process group under DDP) now and then never returns on one rank,
# after the final model is written (CI saw a rank stuck where `train` returns, pytorch/pytorch#75097).
_FINISHED_DISTRIBUTED_RUN: list = []


class ShutdownStuck(Exception):
    """destroy_process_group did not return in time; the outputs are complete, the process must not wait."""


def _end_training(accelerator, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
    """`accelerator.end_training()`, bounded: with several processes, `destroy_process_group` now and then
    never returns on one rank (pytorch/pytorch#75097; our CI saw it once on 2 CPU cores with gloo, after
    the final model was written). It runs in a daemon thread; if it is stuck, `ShutdownStuck` tells `main`
    to exit without waiting for it."""
    if accelerator.num_processes == 1:
        accelerator.end_training()
        return
    thread = threading.Thread(target=accelerator.end_training, name="end-training", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise ShutdownStuck(f"rank {accelerator.process_index}: torch.distributed.destroy_process_group did not "
                            f"return within {timeout_s:.0f} s (pytorch/pytorch#75097); training and saving had "
                            "finished, so this process exits without waiting for it")


def _gather_objects(accelerator, obj) -> list:
    if accelerator.num_processes == 1:
        return [obj]
    from accelerate.utils import gather_object

    return gather_object([obj])


def _truncate_log(output: Path, step: int) -> None:
    """Resuming in the same folder: forget what an interrupted run logged after the checkpoint."""
    path = output / METRICS_FILE
    if path.is_file():
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            earlier = record["step"] < step if "event" in record else record["step"] <= step
            if earlier and record.get("event") != "end":
                kept.append(line)
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _log(output: Path, record: dict[str, Any]) -> None:
    with open(output / METRICS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _register_model_layout_hooks(accelerator, wrapper: nn.Module, model: MiniGPT5,
                                 base: QuantizedBase | None) -> None:
    """Checkpoints hold the model in OUR safetensors layout (`model/`), not accelerate's own file; a quantized
    base is saved as its original weights and not loaded back (it is frozen: the run quantized it already).
    Under FSDP the `model/` folder is written from the gathered state, and resuming reads accelerate's sharded
    copy instead (`sharding`)."""

    def save_hook(models, weights, output_dir):
        state = full_state(accelerator, wrapper, prefix="model.")
        if accelerator.is_main_process:
            # The frozen image generator is not copied into every checkpoint (SD is 5 GB); `final/` has it.
            generator, model.image_generator = model.image_generator, None
            try:
                with base.full_precision() if base else contextlib.nullcontext():
                    model.save_pretrained(Path(output_dir) / MODEL_DIR, state=state)
            finally:
                model.image_generator = generator
        weights.clear()  # accelerate writes no second copy of the weights

    def load_hook(models, input_dir):
        if is_sharded(accelerator):
            return  # accelerate has loaded each process's shard from its own sharded copy
        from ..io.weights import open_shards
        from ..layout import weight_files

        folder = Path(input_dir) / MODEL_DIR
        state = {}
        for reader in open_shards(weight_files(folder)):
            state.update((k, v) for k, v in reader.tensors() if not (base and base.owns(k)))
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("image_generator.") and not (base and base.owns(k))]
        if missing or unexpected:
            raise MiniGPT5Error(f"checkpoint {folder} does not fit the model: missing {missing[:5]}, "
                                f"unexpected {unexpected[:5]}")
        models.clear()  # loaded here; accelerate must not look for its own model file

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def _save_checkpoint(accelerator, output: Path, step: int, stream: SampleSource, world: int,
                     keep: int | None) -> None:
    folder = output / "checkpoints" / f"step-{step}"
    cursors = _gather_objects(accelerator, list(stream.cursor))
    accelerator.save_state(str(folder))
    if accelerator.is_main_process:
        (folder / STATE_FILE).write_text(json.dumps({"step": step, "world": world, "cursors": cursors}))
        if keep:
            older = sorted((output / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))[:-keep]
            for old in older:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def main(argv: list[str] | None = None) -> int:
    """The command line; exit codes as in `minigpt5_core.cli` (2: bad input, one line; 130: interrupted).

    SIGTERM keeps its default (the process ends at once): torchrun stops ranks with it, and a rank waiting in
    a collective could not run a Python handler."""
    return run_cli("minigpt5_core.train", _main, argv, stop_signals=False)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="python -m minigpt5_core.train", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="training config file (.json or .toml)")
    parser.add_argument("--resume", help="'latest' or a checkpoint folder (output_dir/checkpoints/step-N)")
    parser.add_argument("--output-dir", help="overrides the config's output_dir")
    parser.add_argument("--print-config", action="store_true", help="print the default config as JSON and exit")
    args = parser.parse_args(argv)
    if args.print_config:
        print(json.dumps(dataclasses.asdict(TrainConfig()), indent=2))
        return 0
    if not args.config:
        parser.error("--config is required")
    cfg = TrainConfig.load(args.config)
    if args.output_dir:
        cfg.output_dir = args.output_dir
    try:
        final = train(cfg, resume=args.resume)
    except ShutdownStuck as exc:
        print(f"warning: {exc}", file=sys.stderr)
        final = Path(cfg.output_dir) / "final"
    print(final, flush=True)
    if _FINISHED_DISTRIBUTED_RUN:
        # Every output is written and every rank has reached this point: leave without running the
        # process group's destructors, which may wait forever (see `_FINISHED_DISTRIBUTED_RUN`).
        sys.stderr.flush()
        os._exit(0)
    return 0


def _dump_stacks_on_sigusr1() -> None:
    """Let `kill -USR1 <pid>` print every thread's stack: the only way to see where a stuck rank waits.

    Registered by the process entry point only, never by `main()`: a caller running `main()` in-process
    (tests, notebooks) owns its signal handlers, and its stderr may have no file descriptor.
    """
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
