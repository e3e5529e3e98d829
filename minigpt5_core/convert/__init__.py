"""Conversion of the official MiniGPT-5 files into our model folder (`python -m minigpt5_core.convert`).

    official    the official files' key names and how each of our tensors is made from them
    converter   the streaming converter, its options, and the conversion cache `LoadMiniGPT5` uses
    tokenizer   Vicuna's tokenizer.model rebuilt so that text splits as in the official code
"""

from ..layout import OfficialPaths, is_official_folder
from .converter import ConvertOptions, convert, ensure_converted, fingerprint, main

__all__ = ["ConvertOptions", "OfficialPaths", "convert", "ensure_converted", "fingerprint", "is_official_folder",
           "main"]
