"""Inside a real ComfyUI 0.3.75: official files loaded directly by LoadMiniGPT5, and SD 2.1-base single files.

Official files: written here with the official key names (tests/support/official_files.py, narrow widths) into
models/minigpt5/<name>/; LoadMiniGPT5 lists the folder as "<name> (official, converts on first load)",
converts it on first load into <name>/minigpt5-converted/ with a progress bar, and reuses it afterwards.

SD single files: the random SD2-shaped checkpoint of tests/support/sd_single_file.py (what `ImageGenerator.from_single_file`
and `storybook make --sd` read) must be the layout ComfyUI's own CheckpointLoaderSimple reads, with the same maths.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from comfy_fixtures import MINIGPT5_MODEL, generate_graph

OFFICIAL = "minigpt5-official"
MARK = " (official, converts on first load)"


def _graph(model_name, max_new_tokens=8):
    return generate_graph(model_name, max_new_tokens=max_new_tokens)


def _names(comfy):
    return comfy.node_classes["LoadMiniGPT5"].INPUT_TYPES()["required"]["model_name"][0]


def _converted(folder):
    cache = folder / "minigpt5-converted"
    return sorted(p for p in cache.iterdir() if not p.name.startswith(".")) if cache.is_dir() else []


@pytest.fixture(scope="module")
def official(comfy, comfy_models):
    from official_files import SMALL, write_official

    folder = comfy_models.base / "models" / "minigpt5" / OFFICIAL
    paths = write_official(folder, SMALL)
    yield folder, paths
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def first_load(comfy, official):
    """The first run of a graph that loads the official folder (it converts), and the converted folders'
    config.json modification times right after it."""
    run = comfy.run(_graph(OFFICIAL + MARK))
    run.stamps = {p: (p / "config.json").stat().st_mtime_ns for p in _converted(official[0])}
    return run


@pytest.fixture(scope="module")
def second_load(comfy, first_load):
    """The same graph run again after ComfyUI forgot its cached outputs: the loader really runs again."""
    comfy.executor.reset()
    return comfy.run(_graph(OFFICIAL + MARK))


def test_an_official_folder_is_listed_with_the_conversion_note_beside_converted_folders(comfy, official):
    names = _names(comfy)
    assert OFFICIAL + MARK in names and OFFICIAL not in names
    assert MINIGPT5_MODEL in names


def test_the_first_load_converts_into_one_model_folder_and_runs(official, first_load):
    folder, _ = official
    converted = _converted(folder)
    assert len(converted) == 1 and (converted[0] / "config.json").is_file()
    assert isinstance(first_load.outputs["3"]["text"][0], str)  # random weights: often no words, but it ran


def test_the_conversion_reports_one_progress_bar_with_a_step_per_tensor(first_load):
    steps = [(value, total) for node, value, total in first_load.progress if node == "1"]
    totals = {total for _value, total in steps}
    assert len(totals) == 1 and steps[-1][0] == totals.pop() > 10


def test_the_list_keeps_one_entry_for_a_converted_official_folder(comfy, first_load):
    assert [n for n in _names(comfy) if OFFICIAL in n] == [OFFICIAL + MARK]


def test_a_second_load_reuses_the_conversion_without_writing_it_again(official, first_load, second_load):
    folder, _ = official
    assert not [p for p in second_load.progress if p[0] == "1"]
    cached = second_load.message("execution_cached")
    assert cached is None or "1" not in cached["nodes"]
    assert {p: (p / "config.json").stat().st_mtime_ns for p in _converted(folder)} == first_load.stamps


def test_a_second_load_writes_the_same_seeded_text(first_load, second_load):
    assert second_load.outputs["3"]["text"] == first_load.outputs["3"]["text"]


def test_the_loaded_model_holds_the_official_weights(comfy, official):
    folder, paths = official
    handle = comfy.node_classes["LoadMiniGPT5"]().load(OFFICIAL + MARK, "float32", "cpu")[0]
    assert handle.folder.parent == folder / "minigpt5-converted" and handle.name == OFFICIAL + MARK
    stage1 = torch.load(paths.stage1, weights_only=True)["state_dict"]
    stage2 = torch.load(paths.stage2, weights_only=True)["state_dict"]
    assert torch.equal(handle.model.mapper.fc[0].weight, stage1["fc.0.weight"])
    head = stage2["model.llama_model.base_model.model.lm_head.modules_to_save.default.weight"]
    assert torch.equal(handle.model.llm.lm_head.weight, head)
    # dtype is part of the cache key: a bfloat16 load converts once more, into its own folder
    bf16 = comfy.node_classes["LoadMiniGPT5"]().load(OFFICIAL, "bfloat16", "cpu")[0]  # the bare name works too
    assert bf16.model.dtype == torch.bfloat16 and len(_converted(folder)) == 2
    ok, *_ = comfy.validate(_graph(OFFICIAL))
    assert ok


def test_interrupting_a_conversion_leaves_no_half_written_model(comfy, comfy_models, tmp_path):
    from official_files import SMALL, write_official

    folder = comfy_models.base / "models" / "minigpt5" / "official-interrupted"
    write_official(folder, SMALL)
    seen = []

    def interrupt(node, value, total):
        if node == "1":
            seen.append(value)
            if value == 3:
                comfy.interrupt()

    comfy.on_progress, comfy.hook_checks_interrupt = interrupt, False  # the conversion must check by itself
    try:
        run = comfy.run(_graph("official-interrupted" + MARK), expect_success=False)
    finally:
        comfy.on_progress, comfy.hook_checks_interrupt = None, True
        names = [p.name for p in (folder / "minigpt5-converted").iterdir()] if (folder / "minigpt5-converted").is_dir() else []
        shutil.rmtree(folder)
    assert run.interrupted is not None and run.interrupted["node_id"] == "1"
    assert max(seen) <= 4 and names == []


def test_incomplete_official_folders_name_what_is_missing(comfy, comfy_models):
    from official_files import SMALL, write_official

    folder = comfy_models.base / "models" / "minigpt5" / "official-broken"
    write_official(folder, SMALL)
    try:
        (folder / "eva_vit_g.pth").unlink()
        run = comfy.run(_graph("official-broken" + MARK), expect_success=False)
        message = run.error["exception_message"]
        assert run.error["node_id"] == "1" and str(folder) in message and "eva_vit_g.pth" in message
        shutil.copy(folder / "stage2_vist.ckpt", folder / "stage2_mmdialog.ckpt")
        (folder / "eva_vit_g.pth").write_bytes(b"")
        run = comfy.run(_graph("official-broken" + MARK), expect_success=False)
        assert "several stage-2 checkpoints (stage2_mmdialog.ckpt, stage2_vist.ckpt)" in run.error["exception_message"]
    finally:
        shutil.rmtree(folder)


# ---- SD 2.1-base single files: one layout for ComfyUI and for minigpt5_core -----------------------------------

def test_our_sd2_single_file_is_what_comfyui_loads_with_the_same_maths(comfy, comfy_models):
    from minigpt5_core import ImageGenerator
    from sd_single_file import write_config_folder, write_sd2_single_file

    checkpoints = comfy_models.base / "models" / "checkpoints"
    path, _unet, _vae = write_sd2_single_file(checkpoints / "sd2-layout-check.safetensors", levels=2, seed=1)
    try:
        model, _clip, vae = comfy.node_classes["CheckpointLoaderSimple"]().load_checkpoint(path.name)[:3]
        ours = ImageGenerator.from_single_file(path, config=write_config_folder(path.parent / "cfg", levels=2))
    finally:
        path.unlink()
        shutil.rmtree(checkpoints / "cfg", ignore_errors=True)
    assert type(model.model.model_config).__name__ == "SD20"  # ComfyUI detects SD 2.x from the file
    assert model.model.model_type.name == "EPS"  # 2.1-base predicts noise, like the shipped scheduler config

    g = torch.Generator().manual_seed(0)
    x, context, t = torch.randn(1, 4, 16, 16, generator=g), torch.randn(1, 77, 1024, generator=g), torch.tensor([500.0])
    unet = model.model.diffusion_model.float()
    with torch.no_grad():
        theirs = unet(x, t, context=context)
        mine = ours.unet(x, t, encoder_hidden_states=context).sample
        torch.testing.assert_close(mine, theirs, atol=2e-3, rtol=2e-3)
        z = torch.randn(1, 4, 8, 8, generator=g)
        decoded = vae.first_stage_model.float().decode(z)
        torch.testing.assert_close(ours.vae.decode(z).sample, decoded, atol=2e-3, rtol=2e-3)
