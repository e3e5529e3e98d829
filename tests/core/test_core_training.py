"""Training: the per-stage trainable sets, row-only embedding updates, CFG dropout, losses that learn."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from minigpt5_core import MiniGPT5Error, TrainingSample, vist_samples
from minigpt5_core.train.losses import cfg_keep_mask, compute_losses
from minigpt5_core.train.stages import parameter_groups, trainable_parameters


def _story_batch():
    images = [Image.new("RGB", (32, 32), c) for c in [(255, 0, 0), (0, 0, 255)]]
    return vist_samples(["A red square appears.", "It turns blue."], images, "multimodal")


def _caption_batch():
    return [
        TrainingSample("a red square", "[IMG0][IMG1][IMG2][IMG3][IMG4][IMG5][IMG6][IMG7] ###",
                       output_images=[Image.new("RGB", (32, 32), (255, 0, 0))], captions=["a red square"]),
        TrainingSample("a blue square", "[IMG0][IMG1][IMG2][IMG3][IMG4][IMG5][IMG6][IMG7] ###",
                       output_images=[Image.new("RGB", (32, 32), (0, 0, 255))], captions=["a blue square"]),
    ]


def _effective_rows(model):
    """The embedding and output matrices as the model uses them (base + any adapter delta)."""
    vocab = torch.arange(model.config.llm.vocab_size)
    with torch.no_grad():
        embed = model.embed_tokens(vocab).clone()
        head = model.llm.get_output_embeddings()(torch.eye(model.config.llm.hidden_size)).T.clone()
    return embed, head


def _mapper_names(names):
    return {n.removeprefix("mapper.").split(".")[0] for n in names if n.startswith("mapper.")}


def test_stage1_trains_new_rows_and_whole_mapper_only(fresh_tiny_model):
    names = set(trainable_parameters(fresh_tiny_model, 1))
    llm = {n for n in names if n.startswith("llm.")}
    assert all("trainable_tokens_delta" in n for n in llm) and len(llm) == 2
    assert _mapper_names(names) == {"fc", "llm_to_t2i_mapping", "t2i_decoder_prompt"}
    assert not any(n.startswith(("encoder.", "image_generator.")) for n in names)


def test_stage2_trains_lora_new_rows_and_mapper_transformer_only(fresh_tiny_model):
    names = set(trainable_parameters(fresh_tiny_model, 2))
    llm = {n for n in names if n.startswith("llm.")}
    lora = {n for n in llm if "lora_" in n}
    assert {n for n in llm if "trainable_tokens_delta" in n} == llm - lora
    assert len(llm - lora) == 2
    assert all(".q_proj." in n or ".v_proj." in n for n in lora)
    assert len(lora) == 2 * 2 * fresh_tiny_model.config.llm.num_layers  # A and B, q and v, per layer
    assert _mapper_names(names) == {"llm_to_t2i_mapping"}


def test_stage1_lora_adds_the_stage2_lora_to_stage1_and_merges_it_before_stage2(fresh_tiny_model):
    model = fresh_tiny_model
    model.config.training.stage1_lora = True
    names = set(trainable_parameters(model, 1))
    lora = {n for n in names if "lora_" in n}
    assert lora and all(".q_proj." in n or ".v_proj." in n for n in lora)
    assert _mapper_names(names) == {"fc", "llm_to_t2i_mapping", "t2i_decoder_prompt"}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)  # a trained adapter: its delta is not zero
    before = model.embed_tokens(torch.tensor([[1, 2, 3]]))
    logits_before = model.llm(inputs_embeds=before).logits
    trainable_parameters(model, 2)
    assert model.adapter_stage == 2
    assert torch.allclose(model.llm(inputs_embeds=before).logits, logits_before, atol=1e-5)  # merged, not lost


@pytest.mark.parametrize("stage", [1, 2])
def test_an_optimizer_step_changes_only_the_trainable_set(fresh_tiny_model, stage):
    model = fresh_tiny_model
    trainable = trainable_parameters(model, stage)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    embed0, head0 = _effective_rows(model)
    model.train()
    optimizer = torch.optim.AdamW(parameter_groups(model, stage), weight_decay=0.01)
    compute_losses(model, _story_batch() if stage == 2 else _caption_batch(), stage=stage,
                 generator=torch.Generator().manual_seed(0)).total.backward()
    optimizer.step()
    model.eval()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= set(trainable)
    embed1, head1 = _effective_rows(model)
    new_rows = set(model.special_ids.new_rows)
    changed_embed = {i for i in range(embed0.shape[0]) if not torch.equal(embed0[i], embed1[i])}
    changed_head = {i for i in range(head0.shape[0]) if not torch.equal(head0[i], head1[i])}
    assert changed_embed <= new_rows and changed_head <= new_rows
    assert changed_head  # the output rows of the new tokens did move


def test_mapper_gets_ten_times_the_learning_rate(fresh_tiny_model):
    groups = parameter_groups(fresh_tiny_model, 1)
    assert groups[1]["lr"] == pytest.approx(10 * groups[0]["lr"])


def test_cfg_dropout_rate_matches_the_configuration():
    keep = cfg_keep_mask(20000, 0.1, torch.Generator().manual_seed(0))
    assert abs((~keep).float().mean().item() - 0.1) < 0.01


def test_dropped_groups_feed_zeros_to_the_mapper_and_an_empty_caption(fresh_tiny_model, monkeypatch):
    model = fresh_tiny_model
    model.config.training.cfg_dropout = 1.0
    seen = {}
    model.mapper.register_forward_pre_hook(lambda _m, args: seen.setdefault("vokens", args[0].detach().clone()))
    original = model.image_generator.caption_features

    def spy(captions, max_length=77):
        seen["captions"] = list(captions)
        return original(captions, max_length)

    monkeypatch.setattr(model.image_generator, "caption_features", spy)
    compute_losses(model, _caption_batch(), stage=1, generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(seen["vokens"]) == 0
    assert seen["captions"] == ["", ""]


def test_kept_groups_feed_real_features_and_captions(fresh_tiny_model, monkeypatch):
    model = fresh_tiny_model
    model.config.training.cfg_dropout = 0.0
    seen = {}
    model.mapper.register_forward_pre_hook(lambda _m, args: seen.setdefault("vokens", args[0].detach().clone()))
    original = model.image_generator.caption_features
    monkeypatch.setattr(model.image_generator, "caption_features",
                        lambda c, m=77: seen.setdefault("captions", list(c)) and original(c, m))
    compute_losses(model, _caption_batch(), stage=1, generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(seen["vokens"]) == seen["vokens"].numel()
    assert seen["captions"] == ["a red square", "a blue square"]


@pytest.mark.parametrize("stage", [1, 2])
def test_caption_loss_applies_in_either_stage_when_every_sample_has_captions(fresh_tiny_model, stage):
    out = compute_losses(fresh_tiny_model, _caption_batch(), stage=stage, generator=torch.Generator().manual_seed(0))
    assert out.caption is not None


def test_vist_story_samples_carry_no_caption_loss(fresh_tiny_model):
    out = compute_losses(fresh_tiny_model, _story_batch(), stage=2, generator=torch.Generator().manual_seed(0))
    assert out.caption is None


def test_one_sample_without_captions_turns_the_caption_loss_off(fresh_tiny_model):
    batch = _caption_batch() + _story_batch()[1:]
    out = compute_losses(fresh_tiny_model, batch, stage=2, generator=torch.Generator().manual_seed(0))
    assert out.caption is None


def test_total_is_the_weighted_sum(fresh_tiny_model):
    out = compute_losses(fresh_tiny_model, _caption_batch(), stage=1, generator=torch.Generator().manual_seed(0))
    expected = 0.01 * out.text + 1.0 * out.ldm + 0.1 * out.caption
    torch.testing.assert_close(out.total, expected)


def test_voken_labels_mask_img1_to_img6_only(tiny_model):
    sample = _caption_batch()[0]
    _, labels, starts = tiny_model.encode_sample(sample, [])
    vokens = tiny_model.special_ids.vokens
    p = starts[0]
    assert labels[p].item() == vokens[0] and labels[p + 7].item() == vokens[7]
    assert (labels[p + 1 : p + 7] == -100).all()
    assert labels[p + 8].item() != -100  # the "###" after the group keeps its label


def test_target_without_matching_output_images_is_an_error(tiny_model):
    bad = TrainingSample("a red square", "[IMG0][IMG1][IMG2][IMG3][IMG4][IMG5][IMG6][IMG7] ###", output_images=[])
    with pytest.raises(MiniGPT5Error, match="1 voken groups but 0 output images"):
        compute_losses(tiny_model, [bad], stage=1)


@pytest.mark.slow
def test_overfitting_one_batch_drives_every_loss_down(fresh_tiny_model):
    model = fresh_tiny_model
    model.config.training.cfg_dropout = 0.0
    trainable_parameters(model, 1)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch = _caption_batch()
    model.train()
    history = []
    for _ in range(50):
        out = compute_losses(model, batch, stage=1, generator=torch.Generator().manual_seed(0))
        history.append((out.text.item(), out.ldm.item(), out.caption.item()))
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
    first, last = history[0], history[-1]
    assert last[0] < 0.8 * first[0], f"text loss {first[0]:.3f} -> {last[0]:.3f}"
    # the UNet is frozen and random: only the conditioning can lower its error, so expect less
    assert last[1] < 0.92 * first[1], f"LDM loss {first[1]:.3f} -> {last[1]:.3f}"
    assert last[2] < 0.5 * first[2], f"caption loss {first[2]:.3f} -> {last[2]:.3f}"
