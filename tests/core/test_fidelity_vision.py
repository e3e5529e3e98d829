"""Image input as the official code has it: ln_vision's epsilon, expand2square's offset, the centre crop."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from minigpt5_core.errors import MiniGPT5Error
from minigpt5_core.modeling.vision import (
    CLIP_MEAN,
    CLIP_STD,
    ImageEncoder,
    center_crop_square,
    expand_to_square,
    preprocess_images,
)


def test_ln_vision_uses_torchs_default_epsilon_and_eva_blocks_keep_theirs(tiny_config):
    encoder = ImageEncoder(tiny_config.vision, 16)
    assert encoder.vision_model.post_layernorm.eps == 1e-5  # LAVIS ln_vision = nn.LayerNorm(width)
    assert encoder.vision_model.encoder.layers[0].layer_norm1.eps == 1e-6  # EVA's own norms


def test_expand_to_square_offsets_by_the_floor_of_half_the_difference():
    wide = expand_to_square(Image.new("RGB", (256, 181), (0, 0, 0)))
    rows = [y for y in range(256) if wide.getpixel((128, y)) == (0, 0, 0)]
    assert (rows[0], rows[-1]) == (37, 217)  # (256 - 181) // 2 = 37; ImageOps.pad puts it at 38
    tall = expand_to_square(Image.new("RGB", (3, 8), (0, 0, 0)))
    assert [x for x in range(8) if tall.getpixel((x, 0)) == (0, 0, 0)] == [2, 3, 4]


def test_centre_crop_resizes_the_short_side_then_cuts_the_middle():
    columns = np.tile(np.repeat(np.arange(6, dtype=np.uint8) * 40, 50)[None, :, None], (100, 1, 3))  # 300 x 100
    cropped = center_crop_square(Image.fromarray(columns), 50)  # -> 150 x 50, then columns 50..99
    assert cropped.size == (50, 50)
    row = np.asarray(cropped)[25, :, 0]
    assert set(row[1:23].tolist()) == {80} and set(row[27:49].tolist()) == {120}  # the two middle bands only


def test_crop_mode_and_pad_mode_differ_only_for_non_square_pictures():
    square = Image.new("RGB", (64, 64), (10, 200, 30))
    assert np.allclose(preprocess_images([square], 32, "crop"), preprocess_images([square], 32, "pad"))
    wide = Image.new("RGB", (64, 32), (0, 0, 0))
    padded, cropped = preprocess_images([wide], 32, "pad"), preprocess_images([wide], 32, "crop")
    white = (1.0 - CLIP_MEAN[0]) / CLIP_STD[0]
    assert padded[0, 0, 0, 16].item() == pytest.approx(white, abs=1e-5) and cropped[0, 0, 0, 16].item() < 0


def test_unknown_preprocessing_mode_is_one_clear_error():
    with pytest.raises(MiniGPT5Error, match="pad, crop"):
        preprocess_images([Image.new("RGB", (4, 4))], 4, "stretch")


def test_official_evaluation_cases_feed_centre_cropped_history_in_the_official_template(tmp_path):
    from minigpt5_core.data.records import ImageRef, StoryRecord
    from minigpt5_core.evaluate.protocols import EvalResult, PromptSettings, protocol_cases

    paths = []
    for i in range(2):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (90, 30), (i * 100, 0, 0)).save(paths[-1])
    story = StoryRecord("s", ["A b .", "C d ."], [ImageRef(p) for p in paths])
    (case,) = protocol_cases([story], "minigpt5", EvalResult("minigpt5"),
                             PromptSettings(system="S", num_vokens=8, crop_size=16))[1:]
    prompt = case.prompt()
    assert [im.size for im in prompt.input_images] == [(16, 16)]
    assert prompt.source == "S###Human:A b .<Img><ImageHere></Img>\n Generate an image with the scene description: C d . ###Assistant:"
    assert case.reference().size == (90, 30)  # the ground truth is scored as it is
