"""The torch network: id and categorical embeddings, a shared bottom MLP, one tower per task."""

from __future__ import annotations

import math

import torch
from torch import nn


def _mlp(n_in: int, units: tuple[int, ...], dropout: float) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for n_out in units:
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = n_out
    return nn.Sequential(*layers), n_in


def categorical_embedding_dim(cardinality: int, embedding_dim: int) -> int:
    """A width that grows slowly with the number of categories, capped at ``embedding_dim``."""
    return max(1, min(embedding_dim, round(1.6 * (cardinality + 1) ** 0.56)))


class SharedBottomNetwork(nn.Module):
    """Shared-bottom multi-task network.

    The bottom's input concatenates the user and item id embeddings, their element-wise product
    (the factorization-machine interaction), the categorical embeddings and the numeric features.
    Row 0 of every embedding table stands for a value not seen in fit. During training,
    ``id_dropout`` replaces that share of ids by row 0, so the unseen-id row learns the population
    and the network learns to lean on the features where an id says nothing.

    ``forward`` returns a tuple with one tensor per task: shape (batch,) for regression and binary
    tasks (the scaled value or the logit), (batch, n_classes) logits for multiclass tasks.
    """

    def __init__(
        self,
        *,
        n_users: int,
        n_items: int,
        cardinalities: tuple[int, ...],
        n_numeric: int,
        task_outputs: tuple[int, ...],
        embedding_dim: int = 32,
        bottom_units: tuple[int, ...] = (128, 64),
        tower_units: tuple[int, ...] = (32,),
        dropout: float = 0.1,
        id_dropout: float = 0.0,
    ):
        super().__init__()
        self.id_dropout = id_dropout
        self.user_embedding = nn.Embedding(n_users + 1, embedding_dim) if n_users else None
        self.item_embedding = nn.Embedding(n_items + 1, embedding_dim) if n_items else None
        self.categorical_embeddings = nn.ModuleList(
            nn.Embedding(c + 1, categorical_embedding_dim(c, embedding_dim)) for c in cardinalities
        )
        n_ids = (self.user_embedding is not None) + (self.item_embedding is not None)
        n_in = (
            embedding_dim * (n_ids + (n_ids == 2))
            + sum(e.embedding_dim for e in self.categorical_embeddings)
            + n_numeric
        )
        if n_in == 0:
            raise ValueError("The network has no input: X has no id and no feature column.")
        self.bottom, n_shared = _mlp(n_in, tuple(bottom_units), dropout)
        self.towers = nn.ModuleList()
        for n_out in task_outputs:
            body, n_last = _mlp(n_shared, tuple(tower_units), dropout)
            body.append(nn.Linear(n_last, n_out))
            self.towers.append(body)
        self.reset_embeddings()

    def reset_embeddings(self) -> None:
        for table in self._tables():
            nn.init.normal_(table.weight, std=1.0 / math.sqrt(table.embedding_dim))

    def _tables(self):
        ids = [e for e in (self.user_embedding, self.item_embedding) if e is not None]
        return [*ids, *self.categorical_embeddings]

    def _embed_id(self, table: nn.Embedding | None, codes: torch.Tensor | None):
        if table is None:
            return None
        if self.training and self.id_dropout > 0:
            keep = torch.rand(codes.shape, device=codes.device) >= self.id_dropout
            codes = codes * keep
        return table(codes)

    def forward(self, numeric, categorical, user=None, item=None) -> tuple[torch.Tensor, ...]:
        parts = []
        u = self._embed_id(self.user_embedding, user)
        i = self._embed_id(self.item_embedding, item)
        parts += [e for e in (u, i) if e is not None]
        if u is not None and i is not None:
            parts.append(u * i)
        parts += [emb(categorical[:, j]) for j, emb in enumerate(self.categorical_embeddings)]
        parts.append(numeric)
        shared = self.bottom(torch.cat(parts, dim=1))
        return tuple(
            out.squeeze(1) if out.shape[1] == 1 else out
            for out in (tower(shared) for tower in self.towers)
        )
