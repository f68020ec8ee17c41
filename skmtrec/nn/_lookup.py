"""Reading rows of embedding tables."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def embed(table: nn.Embedding, codes: torch.Tensor) -> torch.Tensor:
    """``table(codes)``, with a faster gradient for a dense table on the CPU; see
    ``gather_rows``. A table with options that ``gather_rows`` does not apply (sparse
    gradients, a padding row, a maximum norm, gradients scaled by frequency) keeps its own
    lookup."""
    plain = not (
        table.sparse
        or table.padding_idx is not None
        or table.max_norm is not None
        or table.scale_grad_by_freq
    )
    return gather_rows(table.weight, codes) if plain else table(codes)


def gather_rows(weight: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """The rows ``codes`` of ``weight``, as ``F.embedding`` reads them.

    Where a gradient is needed on the CPU, they are read by ``index_select``: its backward
    (an ``index_add_``) sums the same terms in the same order as the embedding's, so the
    gradient is bit-identical, but faster: the embedding's CPU backward adds one row at a
    time. On a GPU, ``index_add_`` would add in no fixed order, so the embedding stays there.
    """
    if weight.device.type != "cpu" or not (torch.is_grad_enabled() and weight.requires_grad):
        return F.embedding(codes, weight)
    return weight.index_select(0, codes.reshape(-1)).view(*codes.shape, weight.shape[1])
