"""Retrieval and re-ranking: the retrieval task's top candidates, then the head on those only.

A task scored by a ``DotScorer`` (an implicit task under ``ranking_loss="softmax"``) ranks the
whole catalog for a block of users in one matrix product of their retrieval vectors with the
items'. The head scores one (user, item) pair at a time, so ``recommend`` asks it only about
each user's ``candidates`` best items by retrieval (Covington et al., RecSys 2016): exact
retrieval, then the requested score over those.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from .ranking import neutral_shared

# Scores held at once while retrieving: a block of users times the catalog.
_RETRIEVAL_SCORES_PER_BLOCK = 1 << 24
# (user, candidate) pairs retrieved before the head re-ranks them: a block of users times N.
_CANDIDATES_PER_BLOCK = 1 << 22
# (user, candidate) rows scored through the head at once.
_ROWS_PER_BLOCK = 8192


def retrieval_position(module, weights: dict[int, float]) -> int | None:
    """The task position whose dot product retrieves: the first dot-scored task of the
    ranking blend, else the network's first dot-scored task; None without one."""
    dot = list(module.dot_positions)
    chosen = [j for j in weights if j in dot]
    return (chosen or dot or [None])[0]


def retrieval_scorer(module, position: int):
    """The ``DotScorer`` of the dot-scored task at ``position``."""
    return module.dot[list(module.dot_positions).index(position)]


@torch.no_grad()
def retrieve(
    scorer, user_vectors, item_vectors, n: int, exclude, graph=None
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``n`` best item positions by the retrieval score, and those scores, best
    first; ``exclude(rows)`` gives a bool mask (or None) of the items a block must not get.
    With ``graph`` (a ``GraphBlend``), the score is its blend of the task's score with the graph
    filter's."""
    n_users, n_items = len(user_vectors), len(item_vectors)
    n = min(n, n_items)
    items = scorer.item_vectors(item_vectors)
    terms = scorer.item_terms(item_vectors)
    per_block = max(1, _RETRIEVAL_SCORES_PER_BLOCK // n_items)
    positions = np.empty((n_users, n), dtype=np.int64)
    scores = np.empty((n_users, n), dtype=np.float32)
    for start in range(0, n_users, per_block):
        rows = slice(start, min(start + per_block, n_users))
        users = scorer.user_vectors(user_vectors[rows])
        block = users @ items.T
        if terms is not None:
            block += terms[None, :]
        if graph is not None:
            block = graph(block, users, rows)
        mask = exclude(rows)
        if mask is not None:
            block[torch.as_tensor(mask, device=block.device)] = -torch.inf
        values, best = torch.topk(block.float(), n, dim=1)
        positions[rows] = best.cpu().numpy()
        scores[rows] = values.cpu().numpy()
    return positions, scores


@torch.no_grad()
def retrieve_and_rerank(
    module, tasks, weights, scorer, user_vectors, item_vectors, n, k, exclude, width, device,
    graph=None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The top ``k`` of each user's ``n`` best items by retrieval (blended with ``graph``'s
    filter, where given), by the ``weights``' blend of the tasks' rank scores, as ``predict``
    scores a row; block by block of users, so that no more than a block's candidates are held
    at once."""
    n_users, n_items = len(user_vectors), len(item_vectors)
    k = min(k, n, n_items)
    per_block = max(1, _CANDIDATES_PER_BLOCK // min(n, n_items))
    best_items = np.empty((n_users, k), dtype=np.int64)
    best_scores = np.empty((n_users, k), dtype=np.float32)
    for start in range(0, n_users, per_block):
        rows = slice(start, min(start + per_block, n_users))
        users = user_vectors[rows]
        positions, scores = retrieve(
            scorer, users, item_vectors, n, partial(_excluded_from, exclude, start),
            None if graph is None else graph.starting_at(start),
        )  # fmt: skip
        best_items[rows], best_scores[rows] = rerank(
            module, tasks, weights, users, item_vectors, positions, scores == -np.inf, k,
            width, device,
        )  # fmt: skip
    return best_items, best_scores


def _excluded_from(exclude, offset: int, part: slice):
    """``exclude`` of the rows ``part`` of a block that starts at row ``offset``."""
    return exclude(slice(part.start + offset, part.stop + offset))


@torch.no_grad()
def rerank(
    module, tasks, weights, user_vectors, item_vectors, candidates, excluded, k, width, device
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` of each user's ``candidates`` (item positions, (n_users, n)) by the
    ``weights``' blend of the tasks' rank scores, as ``predict`` scores a row; candidates
    where ``excluded`` (bool, same shape) stay out."""
    n_users, n = candidates.shape
    k = min(k, n)
    neutral = neutral_shared(module, width, device)
    # every user's and item's part of the head's first layers, computed once for all blocks:
    # the rows pick among all of ``user_vectors``, so one table serves every block
    terms = {}
    per_block = max(1, _ROWS_PER_BLOCK // n)
    best_items = np.empty((n_users, k), dtype=np.int64)
    best_scores = np.empty((n_users, k), dtype=np.float32)
    for start in range(0, n_users, per_block):
        rows = slice(start, min(start + per_block, n_users))
        block = candidates[rows]
        user_rows = torch.arange(rows.start, rows.stop, device=device).repeat_interleave(n)
        item_rows = torch.as_tensor(block.reshape(-1), device=device)
        shared = neutral.expand(len(item_rows), -1)
        outputs = module.score_rows(user_vectors, item_vectors, user_rows, item_rows, shared, terms)
        score = sum(w * tasks[j].rank_score(outputs[j]) for j, w in weights.items())
        score = score.float().reshape(len(block), n)
        score[torch.as_tensor(excluded[rows], device=device)] = -torch.inf
        values, order = torch.topk(score, k, dim=1)
        order = order.cpu().numpy()
        best_items[rows] = np.take_along_axis(block, order, axis=1)
        best_scores[rows] = values.cpu().numpy()
    return best_items, best_scores
