"""ReLU followed by dropout, as one mask.

On the CPU, ``nn.Dropout`` draws one random number per element through ``bernoulli_``, a large
share of a small network's training time. Here one 64-bit draw gives the keep decisions of three
elements (16 random bits each), and the ReLU and dropout masks are applied as one product, whose
backward is that same product.
"""

from __future__ import annotations

import torch
from torch import nn

# the values of a 16-bit lane: a keep decision's resolution, so ``p`` counts to 1/65536
_LEVELS = 1 << 16


def keep_mask(shape: torch.Size, p: float, device=None) -> torch.Tensor:
    """A bool tensor of ``shape``, each element True with probability ``1 - p`` (to 1/65536),
    drawn from torch's global generator."""
    n = shape.numel()
    draws = torch.empty((n + 2) // 3, dtype=torch.int64, device=device).random_()
    # random_ draws from [0, 2**63): the top 16 bits are one bit short, so three lanes of four;
    # compared where they lie, without first copying the lanes out
    lanes = draws.view(torch.int16).view(-1, 4)[:, :3]
    return (lanes >= round(p * _LEVELS) - _LEVELS // 2).view(-1)[:n].view(shape)


class ReLUDropout(nn.Module):
    """``dropout(relu(x), p)``: in training, each element is zeroed with probability ``p`` and
    the rest scaled by ``1 / (1 - p)``; in evaluation, ``relu(x)``."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"The dropout rate must be in [0, 1), got {p}.")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            # in place where no gradient is kept: x is always a layer's fresh output, and a
            # predict call saves an allocation and a pass over memory per layer
            return x.relu_() if not torch.is_grad_enabled() else torch.relu(x)
        mask = (x > 0) & keep_mask(x.shape, self.p, x.device)
        return x * mask.to(x.dtype).mul_(1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
