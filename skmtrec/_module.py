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

    The user's vector is its id embedding plus a linear map of its user-side features; the
    item's vector likewise with its item-side features. The bottom's input concatenates the two
    vectors, their element-wise product (the factorization-machine interaction), and the
    embeddings and values of the remaining (interaction) features. Row 0 of every embedding
    table stands for a value not seen in fit. During training, ``id_dropout`` replaces that share
    of ids by row 0, so the unseen-id row learns the population and the side features learn to
    stand in for an id that says nothing.

    With ``item_counts`` (interactions per item code in fit) and ``item_feature_shrinkage`` s,
    the item-side features' term of an item with n interactions is scaled by s / (s + n): a new
    item (code 0, n = 0) is placed by its features alone, a well-known one mostly by its id.

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
        item_numeric: tuple[int, ...] = (),
        item_categorical: tuple[int, ...] = (),
        user_numeric: tuple[int, ...] = (),
        user_categorical: tuple[int, ...] = (),
        item_counts=None,
        item_feature_shrinkage: float | None = None,
    ):
        super().__init__()
        self.id_dropout = id_dropout
        weight = None
        if item_counts is not None and item_feature_shrinkage is not None:
            counts = torch.as_tensor(item_counts, dtype=torch.float32)
            weight = item_feature_shrinkage / (item_feature_shrinkage + counts)
            weight[0] = 1.0  # the unseen-item row: features are all there is
        self.register_buffer("item_feature_weight", weight)
        self.categorical_embeddings = nn.ModuleList(
            nn.Embedding(c + 1, categorical_embedding_dim(c, embedding_dim)) for c in cardinalities
        )
        widths = [e.embedding_dim for e in self.categorical_embeddings]
        self.sides = nn.ModuleDict()
        self._side_columns: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        for role, n_ids, numeric, categorical in (
            ("user", n_users, user_numeric, user_categorical),
            ("item", n_items, item_numeric, item_categorical),
        ):
            if not n_ids:
                continue
            side = nn.ModuleDict({"embedding": nn.Embedding(n_ids + 1, embedding_dim)})
            n_content = len(numeric) + sum(widths[j] for j in categorical)
            if n_content:
                side["content"] = nn.Linear(n_content, embedding_dim)
            self.sides[role] = side
            self._side_columns[role] = (tuple(numeric), tuple(categorical))
        claimed_numeric = {j for numeric, _ in self._side_columns.values() for j in numeric}
        claimed_categorical = {j for _, cats in self._side_columns.values() for j in cats}
        self._shared_numeric = tuple(j for j in range(n_numeric) if j not in claimed_numeric)
        self._shared_categorical = tuple(
            j for j in range(len(cardinalities)) if j not in claimed_categorical
        )
        n_in = (
            embedding_dim * (len(self.sides) + (len(self.sides) == 2))
            + sum(widths[j] for j in self._shared_categorical)
            + len(self._shared_numeric)
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
        tables = [side["embedding"] for side in self.sides.values()]
        for table in [*tables, *self.categorical_embeddings]:
            nn.init.normal_(table.weight, std=1.0 / math.sqrt(table.embedding_dim))

    def _features(self, numeric, embedded, numeric_cols, categorical_cols) -> list[torch.Tensor]:
        parts = [embedded[j] for j in categorical_cols]
        if numeric_cols:
            parts.append(numeric[:, list(numeric_cols)])
        return parts

    def side_vector(self, role: str, codes, numeric, categorical) -> torch.Tensor:
        """The user's or item's vector: its id embedding plus its mapped side features."""
        side = self.sides[role]
        if self.training and self.id_dropout > 0:
            keep = torch.rand(codes.shape, device=codes.device) >= self.id_dropout
            codes = codes * keep
        vector = side["embedding"](codes)
        if "content" in side:
            numeric_cols, categorical_cols = self._side_columns[role]
            embedded = {
                j: self.categorical_embeddings[j](categorical[:, j]) for j in categorical_cols
            }
            parts = self._features(numeric, embedded, numeric_cols, categorical_cols)
            content = side["content"](torch.cat(parts, dim=1))
            if role == "item" and self.item_feature_weight is not None:
                content = content * self.item_feature_weight[codes].unsqueeze(1)
            vector = vector + content
        return vector

    def head(self, vectors: list[torch.Tensor], numeric, categorical) -> tuple[torch.Tensor, ...]:
        """Task outputs from the side vectors and the shared (interaction) features."""
        parts = list(vectors)
        if len(vectors) == 2:
            parts.append(vectors[0] * vectors[1])
        parts.append(self.shared_input(numeric, categorical))
        return self.towers_output(self.bottom(torch.cat(parts, dim=1)))

    def shared_input(self, numeric, categorical) -> torch.Tensor:
        """The interaction features (of neither side) as the bottom sees them."""
        embedded = {
            j: self.categorical_embeddings[j](categorical[:, j]) for j in self._shared_categorical
        }
        parts = self._features(numeric, embedded, self._shared_numeric, self._shared_categorical)
        return torch.cat(parts, dim=1) if parts else numeric[:, :0]

    def towers_output(self, shared: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(
            out.squeeze(1) if out.shape[1] == 1 else out
            for out in (tower(shared) for tower in self.towers)
        )

    def forward(self, numeric, categorical, user=None, item=None) -> tuple[torch.Tensor, ...]:
        ids = {"user": user, "item": item}
        vectors = [self.side_vector(role, ids[role], numeric, categorical) for role in self.sides]
        return self.head(vectors, numeric, categorical)
