"""Users described by the items they interacted with (SVD++'s implicit feedback, FISM).

A user's history is the set of items of its rows in fit, each with the labels the user gave it
(one standardized value per scalar task, 0 where missing). It is kept as CSR arrays (item codes
per user code), so memory grows with the interactions, never with users x items. A batch
pools the histories of its distinct users once: each entry's vector is its item's row of a
table plus, per label, the label times a second row; a user's pooled vector is their sum
scaled by ``1 / sqrt(n)``, as SVD++ does. A user with no history (unseen, code 0) pools to
zero, the population. While training, a row's own item is left out of its user's history, so
that the model cannot learn to read the label from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Histories:
    """Every (user code, item code) row of fit with its labels (n_rows, n_values)."""

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    n_users: int
    n_items: int

    @property
    def n_values(self) -> int:
        return self.values.shape[1]

    def arrays(self, rows=None) -> dict[str, np.ndarray]:
        """CSR arrays of each user code's items (sorted, one entry per distinct item, with its
        first row's labels) over ``rows`` (all by default), as ``UserHistory`` keeps them."""
        rows = slice(None) if rows is None else rows
        users = np.asarray(self.users[rows], dtype=np.int64)
        keys = users * (self.n_items + 1) + np.asarray(self.items[rows], dtype=np.int64)
        keys, first = np.unique(keys, return_index=True)
        counts = np.bincount(keys // (self.n_items + 1), minlength=self.n_users + 1)
        return {
            "indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "items": keys % (self.n_items + 1),
            "values": np.asarray(self.values[rows], dtype=np.float32)[first],
        }


class UserHistory(nn.Module):
    """Pools each user's history into a vector of width ``embedding_dim``.

    Parameters
    ----------
    n_items : int
        Items seen in fit (codes 1..n_items; 0 is the unseen item, never in a history).
    n_values : int
        Labels kept per history entry.
    embedding_dim : int
        Width of the pooled vector.
    arrays : dict or None
        ``Histories.arrays()``; kept as buffers outside the state dict (they are data, not
        weights) and replaced by ``set_arrays``.
    """

    def __init__(self, n_items: int, n_values: int, embedding_dim: int, arrays=None):
        super().__init__()
        self.n_items, self.n_values, self.embedding_dim = n_items, n_values, embedding_dim
        self.table = nn.Embedding(n_items + 1, embedding_dim * (1 + n_values))
        for name in ("indptr", "items", "values", "keys"):
            self.register_buffer(name, None, persistent=False)
        if arrays is not None:
            self.set_arrays(arrays)

    def reset_parameters(self) -> None:
        # small rows: an untrained history starts as a small nudge to the id embedding
        nn.init.normal_(self.table.weight, std=0.1 / math.sqrt(self.embedding_dim))

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        device = self.table.weight.device
        indptr = torch.as_tensor(arrays["indptr"], dtype=torch.long, device=device)
        self.indptr = indptr
        self.items = torch.as_tensor(arrays["items"], dtype=torch.long, device=device)
        self.values = torch.as_tensor(arrays["values"], dtype=torch.float32, device=device)
        users = torch.repeat_interleave(torch.arange(len(indptr) - 1, device=device), indptr.diff())
        self.keys = users * (self.n_items + 1) + self.items  # sorted: CSR rows in order

    def arrays(self) -> dict[str, np.ndarray]:
        """The CSR arrays kept, as numpy arrays (``set_arrays`` takes them back)."""
        return {name: getattr(self, name).cpu().numpy() for name in ("indptr", "items", "values")}

    @contextmanager
    def extended(self, extra: Sequence[np.ndarray]) -> Iterator[int]:
        """Serve, while in the context, one more user per array of item codes in ``extra`` (their
        labels unknown: 0, the mean); yields the first such user's code, the next after the
        kept ones. The kept histories are restored on exit."""
        kept = {name: getattr(self, name) for name in ("indptr", "items", "values", "keys")}
        extra = [np.unique(np.asarray(items, dtype=np.int64)) for items in extra]
        counts = np.array([len(items) for items in extra], dtype=np.int64)
        indptr = kept["indptr"].cpu().numpy()
        n_new = int(counts.sum())
        self.set_arrays(
            {
                "indptr": np.concatenate([indptr, indptr[-1] + np.cumsum(counts)]),
                "items": np.concatenate([kept["items"].cpu().numpy(), *extra]),
                "values": np.concatenate(
                    [kept["values"].cpu().numpy(), np.zeros((n_new, self.n_values), np.float32)]
                ),
            }
        )
        try:
            yield len(indptr) - 1
        finally:
            for name, tensor in kept.items():
                setattr(self, name, tensor)

    def _entries(self, items: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Each entry's vector: its item row plus each label times that label's row."""
        rows = self.table(items).view(len(items), 1 + self.n_values, self.embedding_dim)
        if not self.n_values:
            return rows[:, 0]
        weights = torch.cat([torch.ones_like(values[:, :1]), values], dim=1)
        return (rows * weights.unsqueeze(2)).sum(1)

    def forward(self, users: torch.Tensor, leave_out: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled history per row of ``users``; with ``leave_out`` (item codes), each row's
        own item is left out of its user's history."""
        if users.numel() == 0:
            return self.table.weight.new_zeros((0, self.embedding_dim))
        distinct, row_user = torch.unique(users, return_inverse=True)
        starts = self.indptr[distinct]
        lengths = self.indptr[distinct + 1] - starts
        owner = torch.repeat_interleave(torch.arange(len(distinct), device=users.device), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        entry = torch.arange(len(owner), device=users.device) - first[owner] + starts[owner]
        vectors = self._entries(self.items[entry], self.values[entry])
        sums = vectors.new_zeros((len(distinct), self.embedding_dim)).index_add_(0, owner, vectors)
        pooled, n = sums[row_user], lengths[row_user].float()
        if leave_out is not None and len(self.keys):
            keys = users * (self.n_items + 1) + leave_out
            at = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
            own = (self.keys[at] == keys).float()
            pooled = pooled - own.unsqueeze(1) * self._entries(self.items[at], self.values[at])
            n = n - own
        return pooled * n.clamp(min=1).rsqrt().unsqueeze(1)
