"""The feature mapper: voken hidden states (B, 8, H) -> SD text-conditioning space (B, 77, D).

Attribute names follow the official checkpoint (`fc`, `llm_to_t2i_mapping`, `t2i_decoder_prompt`)
and the transformer IS a torch `nn.Transformer`, so official weights load without renaming.
There is no positional encoding: the 77 learned queries carry position, the 8 vokens are a set.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..config import MapperConfig


class VokenMapper(nn.Module):
    def __init__(self, cfg: MapperConfig, llm_hidden_size: int):
        super().__init__()
        self.llm_hidden_size = llm_hidden_size
        self.fc = nn.Sequential(
            nn.Linear(llm_hidden_size, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model)
        )
        with warnings.catch_warnings():  # nested-tensor fast path does not apply to norm_first; expected
            warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
            self.llm_to_t2i_mapping = self._transformer(cfg)
        self.t2i_decoder_prompt = nn.Parameter(torch.randn(1, cfg.num_queries, cfg.d_model))

    @staticmethod
    def _transformer(cfg: MapperConfig) -> nn.Transformer:
        return nn.Transformer(
            d_model=cfg.d_model, nhead=cfg.num_heads, num_encoder_layers=cfg.num_encoder_layers,
            num_decoder_layers=cfg.num_decoder_layers, dim_feedforward=cfg.ffn_dim, dropout=0.0,
            activation="relu", batch_first=True, norm_first=True,
        )

    def forward(self, vokens: torch.Tensor) -> torch.Tensor:
        """(B, 8, H) voken features -> (B, 77, D) prompt embeddings."""
        src = self.fc(vokens.to(self.t2i_decoder_prompt.dtype))
        tgt = self.t2i_decoder_prompt.expand(src.shape[0], -1, -1)
        return self.llm_to_t2i_mapping(src, tgt)

    def null_conditioning(self, num_vokens: int) -> torch.Tensor:
        """mapper(zeros): the learned "no condition" that CFG dropout trained; (1, 77, D)."""
        zeros = torch.zeros(
            1, num_vokens, self.llm_hidden_size, dtype=self.t2i_decoder_prompt.dtype,
            device=self.t2i_decoder_prompt.device,
        )
        return self(zeros)
