"""The SASRec network: item + position embeddings, pre-norm causal transformer blocks, tied output embeddings.

Item index 0 is padding inside the network, so dense item ``i`` is token ``i + 1``. Positions count back from the
newest item, so a left-padded window can be trimmed to the longest sequence of a batch without changing the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recsys.models.sasrec.config import SASRecConfig

SCORE_BATCH = 256
"""Windows per forward pass when computing states."""


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention then a GELU MLP, each with a residual."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Linear(4 * hidden, hidden),
                                 nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, C/H)
        # No dropout on the attention weights: it forces the slow "math" kernel (5x slower on CPU).
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, C/H)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, c)))  # (B, T, C)
        return x + self.mlp(self.ln2(x))


class SASRecNet(nn.Module):
    def __init__(self, n_items: int, hidden: int, layers: int, heads: int, dropout: float, max_len: int) -> None:
        super().__init__()
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(hidden, heads, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)
        self.apply(self._init)

    @classmethod
    def of(cls, config: SASRecConfig, n_items: int) -> SASRecNet:
        return cls(n_items, config.hidden, config.layers, config.heads, config.dropout, config.max_len)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            # std 1/sqrt(C): a layer-normed state times a tied item embedding starts as unit-variance logits,
            # neither flat (slow start, as with std 0.02) nor saturated (as with std 1).
            nn.init.normal_(m.weight, std=m.embedding_dim ** -0.5)
            if m.padding_idx is not None:
                nn.init.zeros_(m.weight[m.padding_idx])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(B, T, C)`` of left-padded item tokens ``(B, T)``; pad positions are zeros."""
        t = tokens.shape[1]
        keep = tokens > 0  # (B, T)
        pos = torch.arange(t - 1, -1, -1, device=tokens.device)  # (T,) distance from the newest item
        x = self.drop(self.item_emb(tokens) + self.pos_emb(pos)) * keep.unsqueeze(-1)  # (B, T, C)
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()  # (T, T)
        # Attend to earlier real items; a pad row attends to itself only, so no row is empty (no NaN).
        mask = (causal & keep[:, None, :]) | torch.eye(t, dtype=torch.bool, device=tokens.device)
        mask = mask.unsqueeze(1)  # (B, 1, T, T)
        for block in self.blocks:
            x = block(x, mask) * keep.unsqueeze(-1)
        return self.ln_f(x)

    def item_weights(self) -> torch.Tensor:
        """Output embeddings of real items ``(n_items, C)`` (tied to the input embeddings)."""
        return self.item_emb.weight[1:]


def windows(seqs: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Left-padded tokens ``(len(seqs), T)`` of each sequence's last `length` items (T = longest kept)."""
    t = max(1, min(length, max((len(s) for s in seqs), default=1)))
    out = np.zeros((len(seqs), t), dtype=np.int64)
    for r, s in enumerate(seqs):
        s = s[-t:]
        if len(s):
            out[r, t - len(s):] = s + 1
    return out


def autocast(device: torch.device, precision: str = "auto") -> Any:
    """bf16 autocast for "bf16", and for "auto" on CUDA; nothing (float32) otherwise."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def last_states(net: SASRecNet, seqs: Sequence[np.ndarray], max_len: int, device: torch.device,
                precision: str = "auto") -> torch.Tensor:
    """The network's state after each sequence's newest item (of its last `max_len`), ``(len(seqs), C)``."""
    parts = []
    for lo in range(0, len(seqs), SCORE_BATCH):
        tokens = torch.from_numpy(windows(seqs[lo:lo + SCORE_BATCH], max_len)).to(device)  # (B, T)
        with autocast(device, precision):
            parts.append(net(tokens)[:, -1].float())  # (B, C)
    return torch.cat(parts) if parts else torch.zeros((0, net.ln_f.normalized_shape[0]), device=device)
