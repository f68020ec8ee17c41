"""The retrieval score with the graph filter: the towers' score and the filter's, each
standardized per user over the catalog, the filter's weighted.

The towers' score (a cosine over a temperature) and the filter's (``GraphFilter``: sums of
degree-normalized co-occurrences) have no common scale, and each spreads differently for
different users. Each is standardized per user: less its mean over the fit catalog and divided
by its standard deviation there. Both moments are over the whole catalog whatever items are
ranked, so an item's score never depends on which other items are asked about. The towers'
moments follow from the catalog's retrieval vectors without scoring every item (a score is a
dot product, so its mean and second moment are the user's products with the vectors' mean
and second-moment matrix); the filter scores the whole catalog anyway.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from .._training.graph_filter import GraphFilter

# below this, a user's scores are taken as constant (a user with no interaction has filter
# scores of 0 everywhere): their standardized scores are 0
_TINY = 1e-12


class GraphBlend:
    """Adds the graph filter's standardized scores to the towers' standardized scores, block
    by block of users.

    Parameters
    ----------
    graph : GraphFilter
        The filter of the fit interactions.
    weight : float
        The weight of the filter's standardized score.
    user_rows : sparse matrix of shape (n_users, n_items + 1)
        The interactions of each user ranked (in fit, and given at predict time), in item codes.
    item_codes : ndarray of shape (n_ranked,)
        The code of each item ranked (0: new to fit).
    mean, second_moment : Tensor
        The catalog's retrieval vectors, each with its item term appended (1 for the user):
        their mean, shape (d + 1,), and second-moment matrix, shape (d + 1, d + 1).
    """

    def __init__(self, graph: GraphFilter, weight, user_rows, item_codes, mean, second_moment):
        self.graph = graph
        self.weight = float(weight)
        self.user_rows = sp.csr_matrix(user_rows)
        self.item_codes = np.asarray(item_codes, dtype=np.int64)
        # ranking the catalog in code order (the usual case), the columns are a slice
        n_items = graph.n_items
        in_order = (
            len(self.item_codes) == n_items and (self.item_codes == np.arange(1, n_items + 1)).all()
        )
        self._columns = slice(1, None) if in_order else self.item_codes
        self.mean = mean
        self.second_moment = second_moment

    @classmethod
    @torch.no_grad()
    def build(cls, graph, weight, scorer, catalog_vectors, user_rows, item_codes) -> GraphBlend:
        """The blend for the ``DotScorer`` ``scorer`` and the input vectors of every item of the
        fit catalog, ``catalog_vectors``."""
        items = scorer.item_vectors(catalog_vectors).float()
        terms = scorer.item_terms(catalog_vectors)
        terms = torch.zeros(len(items), device=items.device) if terms is None else terms.float()
        augmented = torch.cat([items, terms[:, None]], dim=1)
        mean = augmented.mean(0)
        second_moment = augmented.T @ augmented / len(augmented)
        return cls(graph, weight, user_rows, item_codes, mean, second_moment)

    def starting_at(self, offset: int) -> GraphBlend:
        """The same blend for the users from row ``offset`` on (row 0 is then ``offset``)."""
        return GraphBlend(
            self.graph, self.weight, self.user_rows[offset:], self.item_codes, self.mean,
            self.second_moment,
        )  # fmt: skip

    @torch.no_grad()
    def __call__(self, scores: torch.Tensor, users: torch.Tensor, rows: slice) -> torch.Tensor:
        """The blended scores of the users of ``rows``: ``scores`` are the towers' scores of
        the ranked items, ``users`` the users' retrieval vectors (``DotScorer.user_vectors``)."""
        users = users.float()
        augmented = torch.cat([users, torch.ones(len(users), 1, device=users.device)], dim=1)
        mean = augmented @ self.mean
        variance = ((augmented @ self.second_moment) * augmented).sum(1) - mean**2
        towers = (scores.float() - mean[:, None]) / variance.clamp(min=_TINY).sqrt()[:, None]
        graph = self.graph.scores(self.user_rows[rows])
        catalog = graph[:, 1:]
        spread = catalog.std(axis=1, keepdims=True)
        scale = np.where(spread > _TINY, self.weight / np.maximum(spread, _TINY), 0.0)
        added = (graph[:, self._columns] - catalog.mean(axis=1, keepdims=True)) * scale
        return towers + torch.as_tensor(added, dtype=towers.dtype, device=towers.device)
