"""Generation: interleaved text + voken groups, KV cache correctness, forcing, stopping, seeding."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from minigpt5_core import InterleavedResult, MiniGPT5Error, TextSegment, VokenSegment


def _picture(color=(200, 30, 30), size=(48, 36), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color if mode != "L" else 128)


@pytest.fixture
def logit_hook(tiny_model):
    """Install a forward hook on lm_head that edits logits; removed after the test."""
    handles = []

    def install(edit):
        head = tiny_model.llm.get_output_embeddings()
        handles.append(head.register_forward_hook(lambda _m, _i, out: edit(out)))

    yield install
    for h in handles:
        h.remove()


def test_images_and_prompt_give_text_vokens_conditioning_and_pictures(tiny_model):
    result = tiny_model.generate("A red ball rolls away.", images=[_picture(), _picture((0, 0, 255))],
                                 seed=0, force_image=True, max_new_tokens=32)
    assert isinstance(result, InterleavedResult)
    assert result.num_images == 1
    assert result.vokens.shape == (1, 8, tiny_model.config.llm.hidden_size)
    positive, negative = tiny_model.conditioning(result)
    assert positive.shape == (1, 77, 1024) and negative.shape == (1, 77, 1024)
    assert positive.dtype == torch.float32
    pictures = tiny_model.render_images(result, steps=2, guidance=7.5, seed=0, height=32, width=32)
    assert len(pictures) == 1 and pictures[0].size == (32, 32)


def test_cached_voken_states_equal_one_full_forward(tiny_model):
    from minigpt5_core.modeling.generation import DecodingSession, SamplingSettings

    fed = []

    class RecordingSession(DecodingSession):
        def feed_embeds(self, embeds):
            fed.append(embeds)
            return super().feed_embeds(embeds)

    session = tiny_model.start_session("The fox meets an owl.", [_picture()], session_class=RecordingSession)
    prompt_length = session.length

    settings = SamplingSettings(max_new_tokens=40, temperature=1.0, top_p=0.9, repetition_penalty=2.0, force_image=True)
    result = session.sample_turn(settings, torch.Generator().manual_seed(3))
    assert result.num_images == 1
    with torch.no_grad():
        full = tiny_model.llm(inputs_embeds=torch.cat(fed, dim=1), output_hidden_states=True).hidden_states[-1][0]
    start = prompt_length + result.token_ids.index(tiny_model.special_ids.first_voken)
    expected = full[start - 1 : start + 7]
    torch.testing.assert_close(result.vokens[0], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", range(5))
def test_force_image_always_gives_exactly_one_image(tiny_model, seed):
    result = tiny_model.generate("Tell me a story.", seed=seed, force_image=True, max_new_tokens=24)
    assert result.num_images == 1
    assert sum(isinstance(s, VokenSegment) for s in result.segments) == 1


def test_without_force_no_image_unless_img0_is_sampled(tiny_model, logit_hook):
    img0 = tiny_model.special_ids.first_voken

    def forbid(logits):
        logits[..., img0] = float("-inf")
        return logits

    logit_hook(forbid)
    result = tiny_model.generate("Tell me a story.", seed=0, max_new_tokens=24)
    assert result.num_images == 0
    assert img0 not in result.token_ids


def test_force_image_overrides_a_model_that_never_samples_img0(tiny_model, logit_hook):
    img0 = tiny_model.special_ids.first_voken

    def forbid(logits):
        logits[..., img0] = -1e4
        return logits

    logit_hook(forbid)
    result = tiny_model.generate("Tell me a story.", seed=0, max_new_tokens=24, force_image=True)
    assert result.num_images == 1


def test_sampled_img0_is_followed_by_the_fed_voken_group(tiny_model, logit_hook):
    ids = tiny_model.special_ids

    def prefer_img0(logits):
        logits[..., ids.first_voken] = 1e4
        return logits

    logit_hook(prefer_img0)
    result = tiny_model.generate("Draw it.", seed=0, max_new_tokens=8, temperature=0)
    assert result.token_ids[:8] == list(ids.vokens)
    assert isinstance(result.segments[0], VokenSegment)


def test_generation_stops_at_the_turn_separator(tiny_model, logit_hook):
    stop_ids = tiny_model.tokenizer("###", add_special_tokens=False).input_ids
    calls = {"n": 0}

    def stop_after_three(logits):
        calls["n"] += 1
        step = calls["n"] - 1  # call 1 (the prompt) yields token 0, call k+1 yields token k
        if 3 <= step < 3 + len(stop_ids):
            logits[..., stop_ids[step - 3]] = 1e4
        return logits

    logit_hook(stop_after_three)
    result = tiny_model.generate("Hello.", seed=0, max_new_tokens=40, temperature=0)
    assert len(result.token_ids) == 3 + len(stop_ids)
    assert "###" not in result.text


def test_max_new_tokens_bounds_the_output(tiny_model):
    result = tiny_model.generate("Hello.", seed=1, max_new_tokens=5)
    assert len(result.token_ids) <= 5


def test_same_seed_same_output_and_different_seed_differs(tiny_model):
    a = tiny_model.generate("A tale.", seed=7, max_new_tokens=20, force_image=True)
    b = tiny_model.generate("A tale.", seed=7, max_new_tokens=20, force_image=True)
    c = tiny_model.generate("A tale.", seed=8, max_new_tokens=20, force_image=True)
    assert a.token_ids == b.token_ids and torch.equal(a.vokens, b.vokens)
    assert a.token_ids != c.token_ids


def test_story_gives_one_image_per_page_and_reuses_the_cache(tiny_model):
    pages = tiny_model.story("A fox wakes up.", pages=3, seed=0, max_new_tokens_per_page=20)
    assert [p.num_images for p in pages] == [1, 1, 1]
    positive, _ = tiny_model.conditioning(torch.cat([p.vokens for p in pages]))
    assert positive.shape == (3, 77, 1024)


def test_on_token_can_abort_generation(tiny_model):
    class Stop(Exception):
        pass

    seen = []

    def on_token(n):
        seen.append(n)
        if n >= 3:
            raise Stop

    with pytest.raises(Stop):
        tiny_model.generate("Hello.", seed=0, max_new_tokens=40, on_token=on_token)
    assert seen[-1] <= 3 + 8  # at most one voken group past the request


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGBA", (40, 30), (255, 0, 0, 0)),
        Image.new("L", (7, 300), 90),
        Image.new("P", (64, 64)),
        Image.new("CMYK", (20, 20), (0, 255, 0, 0)),
        Image.new("1", (33, 17)),
        Image.new("I;16", (16, 16)),
    ],
    ids=["rgba", "tall-grey", "palette", "cmyk", "bilevel", "16-bit"],
)
def test_any_image_mode_and_size_is_accepted(tiny_model, image):
    embeds = tiny_model.encode_images([image])
    assert embeds.shape == (1, tiny_model.config.vision.num_query_tokens, tiny_model.config.llm.hidden_size)


def test_transparent_pixels_become_white():
    from minigpt5_core.modeling.vision import to_rgb

    assert to_rgb(Image.new("RGBA", (2, 2), (255, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)


def test_empty_prompt_is_a_clear_error(tiny_model):
    with pytest.raises(MiniGPT5Error, match="prompt is empty"):
        tiny_model.generate("   ", seed=0)


def test_placeholder_count_must_match_images(tiny_model):
    with pytest.raises(MiniGPT5Error, match="placeholders but 1 images"):
        tiny_model.generate("<Img><ImageHere></Img> and <Img><ImageHere></Img>", images=[_picture()], seed=0)


def test_prompt_longer_than_the_context_is_a_clear_error(tiny_model):
    with pytest.raises(MiniGPT5Error, match="positions but the LLM has"):
        tiny_model.generate("word " * 2000, seed=0)


def test_text_segments_hold_text_and_no_special_tokens(tiny_model):
    result = tiny_model.generate("Once upon a time.", seed=4, max_new_tokens=30, force_image=True)
    texts = [s.text for s in result.segments if isinstance(s, TextSegment)]
    assert all("[IMG" not in t and "###" not in t for t in texts)


def test_conditioning_without_images_says_how_to_get_one(tiny_model):
    with pytest.raises(MiniGPT5Error, match="force_image"):
        tiny_model.conditioning(InterleavedResult())


def test_negative_conditioning_is_the_mapper_of_zeros(tiny_model):
    vokens = torch.randn(2, 8, tiny_model.config.llm.hidden_size)
    positive, negative = tiny_model.conditioning(vokens)
    with torch.no_grad():
        expected = tiny_model.mapper(torch.zeros(1, 8, tiny_model.config.llm.hidden_size))
    torch.testing.assert_close(negative, expected)
    assert positive.shape == (2, 77, 1024)


def test_over_long_image_history_drops_the_oldest_images_with_a_warning(tiny_model):
    per_image = tiny_model.config.vision.num_query_tokens
    too_many = tiny_model.config.llm.max_position_embeddings // per_image + 2
    pictures = [_picture((i * 7 % 255, 0, 0)) for i in range(too_many)]
    with pytest.warns(UserWarning, match="oldest were dropped"):
        result = tiny_model.generate("Go on.", images=pictures, seed=0, max_new_tokens=16, force_image=True)
    assert result.num_images == 1
