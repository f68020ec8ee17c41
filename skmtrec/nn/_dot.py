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
import torch.nn.functional as F
from torch import nn


class DotScorer(nn.Module):
    """Scores (user, item) vector pairs by a dot product (or cosine) of their projections.

    Parameters
    ----------
    embedding_dim : int
        Width of the user and item vectors.
    similarity : {"dot", "cosine"}, default="dot"
        "dot": ``<P_u u, P_i i> + w . i``. "cosine": the cosine of ``P_u u`` and ``P_i i``
        divided by ``temperature``, with no item term: every item's vector has the same
        length, so popularity cannot crowd a user's list (Mao et al., CIKM 2021; Wu et al.,
        TOIS 2023, on cosine and temperature in a sampled softmax).
    temperature : float, default=1.0
        With "cosine", the scale of the logits: lower sharpens the softmax on the hardest
        negatives.
    """

    def __init__(self, embedding_dim: int, similarity: str = "dot", temperature: float = 1.0):
        super().__init__()
        if similarity not in ("dot", "cosine"):
            raise ValueError(f"similarity must be 'dot' or 'cosine'; got {similarity!r}")
        self.similarity = similarity
        self.temperature = float(temperature)
        self.user = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.item = nn.Linear(embedding_dim, embedding_dim, bias=False)
        self.item_bias = nn.Linear(embedding_dim, 1)
        # kept in the state for one layout, but never read under "cosine": not trained, so
        # that data-parallel training expects no gradient of it
        self.item_bias.requires_grad_(similarity == "dot")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # identity projections: the score starts as the plain dot product of the vectors
        nn.init.eye_(self.user.weight)
        nn.init.eye_(self.item.weight)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.zeros_(self.item_bias.bias)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        """The users' retrieval vectors: a user's scores are their products with the items'
        (``item_vectors``), plus ``item_terms`` under "dot"."""
        out = self.user(users)
        if self.similarity == "cosine":
            out = F.normalize(out, dim=-1) / self.temperature
        return out

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """The items' retrieval vectors (unit length under "cosine")."""
        out = self.item(items)
        return F.normalize(out, dim=-1) if self.similarity == "cosine" else out

    def item_terms(self, items: torch.Tensor) -> torch.Tensor | None:
        """Each item's additive term (popularity) under "dot", None under "cosine": (n,)."""
        return self.item_bias(items)[:, 0] if self.similarity == "dot" else None

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The score of each row's pair: (batch,)."""
        scores = (self.user_vectors(users) * self.item_vectors(items)).sum(1)
        terms = self.item_terms(items)
        return scores if terms is None else scores + terms

    def pair_matrix(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Every (user, item) pair's score: (n_users, n_items)."""
        scores = self.user_vectors(users) @ self.item_vectors(items).T
        terms = self.item_terms(items)
        return scores if terms is None else scores + terms[None, :]

    def pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Every (user, item) pair's score, user-major: (n_users * n_items,)."""
        return self.pair_matrix(users, items).reshape(-1)

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
        scores = self.pair_matrix(users, catalog)
        if sampled is None:
            candidates = torch.arange(len(catalog), device=codes.device)
        else:
            candidates = sampled
            if log_q is not None:
                scores = scores - log_q[sampled]
                own = own - log_q[codes]
        # the row's own item is column 0; elsewhere (and the unseen item's row) it is no
        # candidate
        hit = (candidates[None, :] == codes[:, None]) | (candidates[None, :] == 0)
        scores = scores.masked_fill(hit, float("-inf"))
        return torch.cat([own[:, None], scores], dim=1)
