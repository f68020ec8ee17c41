"""A task scored by a dot product of the user's and the item's vectors, for a catalog-wide
softmax.

A head scores one (user, item) pair at a time through an MLP, so scoring every item of the
catalog for every row of a batch costs a forward pass per pair. A dot product
``<P_u u, P_i i> + w . i`` of the two input-part vectors (``u``: id embedding, user features
and history; ``i``: id embedding and item features) scores a row against the whole catalog in
one matrix product, which is what a softmax over the catalog needs (Covington et al., RecSys
2016; Rendle et al., RecSys 2020, on dot products against MLPs for ranking). The item term
``w . i`` carries popularity.

While training (``logits``), each row's positive item is scored against the catalog, or,
beyond ``max_items`` items, against ``max_items`` items drawn by popularity, each logit less
the log of its expected count in the draw (the logQ correction of Bengio and Senecal, 2008;
Yi et al., RecSys 2019). Column 0 of the result is the row's own item; the loss is the cross
entropy with target 0.
"""

from __future__ import annotations

import torch
from torch import nn


class DotScorer(nn.Module):
    """Scores (user, item) vector pairs by a dot product of their projections.

    Parameters
    ----------
    embedding_dim : int
        Width of the user and item vectors.
    """

    def __init__(self, embedding_dim: int):
        super().__init__()
        self.user = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.item = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.item_bias = nn.Linear(embedding_dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # identity projections: the score starts as the plain dot product of the vectors
        nn.init.eye_(self.user.weight)
        nn.init.eye_(self.item.weight)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.zeros_(self.item_bias.bias)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The score of each row's pair: (batch,)."""
        return (self.user(users) * self.item(items)).sum(1) + self.item_bias(items)[:, 0]

    def pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Every (user, item) pair's score, user-major: (n_users * n_items,)."""
        scores = self.user(users) @ self.item(items).T + self.item_bias(items).T
        return scores.reshape(-1)

    def logits(
        self,
        users: torch.Tensor,
        items: torch.Tensor,
        codes: torch.Tensor,
        catalog: torch.Tensor,
        log_q: torch.Tensor | None = None,
        sampled: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Softmax logits of each row: its own item (column 0), then the other candidates.

        ``users`` and ``items`` are the rows' vectors, ``codes`` their item codes. Without
        ``sampled``, ``catalog`` holds the vector of every item code (row 0, the unseen item,
        is never a candidate); with it, ``catalog`` holds the vectors of the ``sampled`` item
        codes, and ``log_q`` the log of each code's expected count in the draw.
        """
        own = self(users, items)
        scores = self.user(users) @ self.item(catalog).T + self.item_bias(catalog).T
        if sampled is None:
            candidates = torch.arange(len(catalog), device=codes.device)
        else:
            candidates = sampled
            scores = scores - log_q[sampled]
            own = own - log_q[codes]
        # the row's own item is column 0; elsewhere (and the unseen item's row) it is no
        # candidate
        hit = (candidates[None, :] == codes[:, None]) | (candidates[None, :] == 0)
        scores = scores.masked_fill(hit, float("-inf"))
        return torch.cat([own[:, None], scores], dim=1)
