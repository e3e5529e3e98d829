"""LoadMiniGPT5: a model folder from ``models/minigpt5/`` wrapped for ComfyUI's memory management."""

from __future__ import annotations

import os
from pathlib import Path

from minigpt5_core.errors import MiniGPT5Error
from minigpt5_core.layout import (CONFIG_FILE, MODEL_FOLDER, OFFICIAL_LAYOUT, TOKENIZER_DIR, WEIGHTS_FILE,
                                  OfficialPaths, is_official_folder, missing_parts)
from minigpt5_core.modeling.quantize import QUANTIZE_TIERS, check_quantize

from .comfy_types import ConversionProgress, models_subfolder

FOLDER_KEY = "minigpt5"
WHERE_TO_GET = (f"{MODEL_FOLDER}; or {OFFICIAL_LAYOUT}, converted on first load; see the README of the MiniGPT-5 "
                "pack, section 'Models'")


# A folder of official files is listed under its name plus this mark: ComfyUI combos show their values, and
# the mark tells users that the first load converts (minutes, and disk space next to the files).
OFFICIAL_SUFFIX = " (official, converts on first load)"
CONVERTED_DIR = "minigpt5-converted"
CONVERT_DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
DTYPES = ("auto", "float32", "float16", "bfloat16")
DEVICES = ("auto", "cpu")
QUANTIZE_TOOLTIP = (
    "Store the LLM's weights in 8 (int8) or 4 (nf4) bits, at load time, from the ordinary model folder (needs the "
    "bitsandbytes package): int8 keeps the picture conditioning nearly exact, nf4 close, and nf4 lets an 8 GB card "
    "write a 5-page story. GPU memory per tier: docs/models.md, 'Memory tiers'."
)


# ---- model folders ------------------------------------------------------------------------------------

def search_folders() -> list[str]:
    """Every ``minigpt5`` folder: ``<models_dir>/minigpt5`` and those of extra_model_paths.yaml."""
    return models_subfolder(FOLDER_KEY)


def list_models() -> list[str]:
    """Names of the sub-folders of every registered ``minigpt5`` folder (a model is a folder); folders of
    official files carry ``OFFICIAL_SUFFIX``."""
    names = set()
    for root in search_folders():
        if not os.path.isdir(root):
            continue
        for entry in os.scandir(root):
            if entry.is_dir() and not entry.name.startswith((".", "_")):
                names.add(entry.name + (OFFICIAL_SUFFIX if is_official_folder(Path(entry.path)) else ""))
    return sorted(names)


def split_name(model_name: str) -> tuple[str, bool]:
    """A combo value -> (folder name, whether it was offered as official files)."""
    if isinstance(model_name, str) and model_name.endswith(OFFICIAL_SUFFIX):
        return model_name[: -len(OFFICIAL_SUFFIX)], True
    return model_name, False


def _bad_name(name) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return "no MiniGPT-5 model chosen"
    if name in (".", "..") or "/" in name or "\\" in name or os.sep in name:
        return f"{name!r} is not a model folder name (a plain folder name, no path)"
    return None


def missing_model_message(name: str, searched: list[str]) -> str:
    where = ", ".join(searched) if searched else "(no folder registered under 'minigpt5')"
    first = searched[0] if searched else "ComfyUI/models/minigpt5"
    return (f"MiniGPT-5 model {name!r} not found. Searched: {where}. Expected a folder "
            f"{os.path.join(first, name)}: {WHERE_TO_GET}.")


def find_model(name: str) -> Path:
    """The folder of model ``name`` (a model folder, or a folder of official files: see ``is_official_folder``);
    raises MiniGPT5Error naming the folders searched and the files wanted."""
    name = split_name(name)[0]
    error = _bad_name(name)
    searched = search_folders()
    if error:
        raise MiniGPT5Error(error)
    for root in searched:
        folder = Path(root) / name
        if folder.is_dir() and is_official_folder(folder):
            return folder
        if folder.is_dir():
            missing = missing_parts(folder)
            if missing:
                raise MiniGPT5Error(
                    f"MiniGPT-5 model folder {folder} is incomplete: {', '.join(missing)} missing; {WHERE_TO_GET}.")
            return folder
    raise MiniGPT5Error(missing_model_message(name, searched))


# ---- the loaded model -----------------------------------------------------------------------------------

class MiniGPT5Handle:
    """What flows on a MINIGPT5 wire: the model, its ComfyUI ModelPatcher and where it came from.

    ``ready()`` asks ComfyUI's memory manager to put the whole model on its device (evicting e.g. the SD
    UNet if needed); after the node is done the model stays there until something else needs the memory.
    """

    def __init__(self, model, patcher, name: str, folder: Path):
        self.model, self.patcher, self.name, self.folder = model, patcher, name, folder

    def ready(self):
        import comfy.model_management

        # Full load: the LLM's layers are plain torch modules that cannot run split across two devices.
        comfy.model_management.load_models_gpu([self.patcher], force_full_load=True)
        return self.model

    def __repr__(self):
        return f"MiniGPT5Handle({self.name!r}, {self.folder})"


def _shell_module(model):
    """ModelPatcher writes ``.device`` (and bookkeeping fields) onto the module it manages; MiniGPT5 has a
    read-only ``device`` property, so the patcher manages a thin container that holds the model."""
    import torch

    class MiniGPT5Container(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.minigpt5 = inner
            self.device = inner.device

    return MiniGPT5Container(model)


def pick_devices(device: str):
    import torch
    import comfy.model_management as mm

    if device == "cpu":
        cpu = torch.device("cpu")
        return cpu, cpu
    return mm.get_torch_device(), mm.unet_offload_device()


def pick_dtype(dtype: str, load_device):
    import torch
    import comfy.model_management as mm

    if dtype != "auto":
        return getattr(torch, dtype)
    if load_device.type == "cpu":
        return torch.float32
    if mm.should_use_bf16(load_device):
        return torch.bfloat16
    if mm.should_use_fp16(load_device):
        return torch.float16
    return torch.float32


def convert_official(folder: Path, torch_dtype) -> Path:
    """The converted model folder for the official files in ``folder`` (converting on first use).

    The result is cached in ``folder/minigpt5-converted/`` and reused while the files and options are unchanged
    (``minigpt5_core.convert.ensure_converted``); the weights are stored in the dtype the model will run in.
    """
    from minigpt5_core.convert import ConvertOptions, ensure_converted

    options = ConvertOptions(dtype=CONVERT_DTYPES.get(str(torch_dtype).replace("torch.", ""), "bf16"))
    paths = OfficialPaths.from_folder(folder)
    try:
        return ensure_converted(paths, folder / CONVERTED_DIR, progress=ConversionProgress(), options=options)
    except OSError as e:
        raise MiniGPT5Error(
            f"could not write the converted model into {folder / CONVERTED_DIR} ({e}); the first load of official "
            "files needs write access and free disk space (about the size of the weights) next to them") from e


def load_minigpt5(model_name: str, dtype: str = "auto", device: str = "auto", quantize: str = "none") -> MiniGPT5Handle:
    """Load, quantizing the LLM as it streams in when asked (bitsandbytes layers move with the ModelPatcher
    like any parameter). The patcher is a plain ModelPatcher on purpose, also where ComfyUI >= 0.16 makes
    ModelPatcherDynamic the default: its load re-wraps each plain module's weights as torch.nn.Parameter,
    which would drop bitsandbytes' quantization state (docs/models.md, "Memory tiers")."""
    import comfy.model_patcher
    from minigpt5_core import MiniGPT5

    check_quantize(quantize)  # before anything is read or converted
    if dtype not in DTYPES:
        raise MiniGPT5Error(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if device not in DEVICES:
        raise MiniGPT5Error(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    folder = find_model(model_name)
    load_device, offload_device = pick_devices(device)
    torch_dtype = pick_dtype(dtype, load_device)
    try:
        if is_official_folder(folder):
            folder = convert_official(folder, torch_dtype)
        model = MiniGPT5.from_pretrained(folder, device=offload_device, dtype=torch_dtype,
                                         with_image_generator=False, quantize=quantize)
    except MiniGPT5Error as e:
        raise MiniGPT5Error(f"could not load MiniGPT-5 model {model_name!r} from {folder}: {e}") from e
    model.eval()
    patcher = comfy.model_patcher.ModelPatcher(_shell_module(model), load_device=load_device,
                                               offload_device=offload_device)
    return MiniGPT5Handle(model, patcher, model_name, folder)


class LoadMiniGPT5:
    DESCRIPTION = (f"Loads a MiniGPT-5 model folder from models/minigpt5/: {MODEL_FOLDER}. Or {OFFICIAL_LAYOUT}: "
                   f"such a folder is listed as '{OFFICIAL_SUFFIX.strip()}', and the first load converts it into "
                   f"{CONVERTED_DIR}/ inside that folder, with progress; later loads reuse it. "
                   "The LLM and voken mapper are managed by ComfyUI like any model: they are "
                   "moved off the GPU when the Stable Diffusion UNet needs the memory. Stable Diffusion itself "
                   "comes from a stock loader (CheckpointLoaderSimple with SD 2.1-base).")
    SEARCH_ALIASES = ["minigpt5", "minigpt-5", "load llm", "vicuna", "multimodal model loader"]
    CATEGORY = "MiniGPT-5"
    FUNCTION = "load"
    RETURN_TYPES = ("MINIGPT5",)
    RETURN_NAMES = ("minigpt5",)
    OUTPUT_TOOLTIPS = ("The loaded MiniGPT-5 model (LLM, image encoder and voken mapper).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model_name": (list_models(), {
                    "tooltip": "A model folder inside ComfyUI/models/minigpt5/ (or a 'minigpt5' path from "
                               f"extra_model_paths.yaml) holding {CONFIG_FILE}, {WEIGHTS_FILE} and {TOKENIZER_DIR}/; "
                               f"or a folder of the official files, marked '{OFFICIAL_SUFFIX.strip()}'."}),
                "dtype": (list(DTYPES), {
                    "default": "auto",
                    "tooltip": "Weight precision. auto: float32 on CPU; bfloat16 (or float16) on a GPU."}),
                "device": (list(DEVICES), {
                    "default": "auto",
                    "tooltip": "auto: run on ComfyUI's device and let ComfyUI offload the model when the UNet "
                               "needs memory. cpu: always run on the CPU (keeps the GPU for Stable Diffusion)."}),
            },
            "optional": {
                "quantize": (list(QUANTIZE_TIERS), {"default": "none", "tooltip": QUANTIZE_TOOLTIP}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, model_name):
        # Replaces ComfyUI's "Value not in list" with a message that says where to put the model.
        error = _bad_name(model_name)
        if error:
            return error
        if model_name not in list_models():
            name, _ = split_name(model_name)
            if name + OFFICIAL_SUFFIX in list_models():
                return True  # the bare name of an official-files folder (e.g. typed into an API prompt)
            return missing_model_message(name, search_folders())
        return True

    def load(self, model_name, dtype="auto", device="auto", quantize="none"):
        return (load_minigpt5(model_name, dtype, device, quantize),)
