"""Evaluation at the library's edge: the metrics and the paper's protocols (`python -m minigpt5_core.evaluate`).

    metrics     CLIP-I, FID, IS, BLEU, ROUGE-L, S-BERT, MM-Relevance
    protocols   the MiniGPT-5 and GILL VIST protocols and MMDialog, and the CLI
"""

from .protocols import main

__all__ = ["main"]
