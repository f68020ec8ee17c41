"""Ranking a catalog for users: side vectors computed once, pairs scored in batches."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch

# (user, item) pairs scored at once: small blocks keep the activations in cache.
_PAIRS_PER_BATCH = 8192


def ranking_weights(tasks, task) -> dict[int, float]:
    """{task position: weight} of the score that ranks items.

    ``task=None`` takes the rankable task each kind prefers (the first implicit task, else the
    first regression task, else the first binary task); a name takes that task; a dict
    {name: weight} blends tasks.
    """
    positions = {t.name: j for j, t in enumerate(tasks)}
    if task is None:
        rankable = [t for t in tasks if t.rank_priority is not None]
        if not rankable:
            raise ValueError(
                "No task can rank items: multiclass and multilabel tasks give no single score."
            )
        task = min(rankable, key=lambda t: t.rank_priority).name
    blend = dict(task) if isinstance(task, Mapping) else {task: 1.0}
    for name in blend:
        if name not in positions:
            raise ValueError(f"task={name!r} is not a task; tasks are {list(positions)}.")
        if tasks[positions[name]].rank_priority is None:
            kind = tasks[positions[name]].kind
            raise ValueError(f"Task {name!r} is {kind}: it gives no single score to rank items by.")
    for name, w in blend.items():
        if not (isinstance(w, Real) and not isinstance(w, bool) and np.isfinite(w) and w >= 0):
            raise ValueError(
                f"The weight of task {name!r} in the `task` blend must be a finite number "
                f">= 0; got {w!r}."
            )
    if not any(w > 0 for w in blend.values()):
        raise ValueError(f"task={blend!r}: a blend needs at least one weight > 0.")
    return {positions[name]: float(w) for name, w in blend.items()}


def check_k(k, name: str = "k") -> int:
    """``k`` of ``recommend`` and ``similar_items`` (or another count, ``name``): a positive
    int (a bool is refused)."""
    if not (isinstance(k, Integral) and not isinstance(k, bool) and k >= 1):
        raise ValueError(f"{name} must be a positive int; got {k!r}.")
    return int(k)


@torch.no_grad()
def side_vectors(module, role: str, inputs: dict[str, np.ndarray], device) -> torch.Tensor:
    """The user's or item's vectors for encoded rows (eval mode: no id dropout); a user's
    history is read under ``inputs["history_user"]`` where given."""
    owners = inputs.get("history_user")
    return module.side_vector(
        role,
        torch.as_tensor(inputs[role], device=device),
        torch.as_tensor(inputs["numeric"], device=device),
        torch.as_tensor(inputs["categorical"], device=device),
        None if owners is None else torch.as_tensor(owners, device=device),
    )


@torch.no_grad()
def top_k(
    module, tasks, weights, user_vectors, item_vectors, k, exclude, width, device, blend=None
):
    """Top-k item positions and scores per user; ``exclude(rows)`` gives a bool mask of items
    a block of users must not get. ``width`` is (n_numeric, n_categorical); ``blend(outputs,
    rows)`` (``ColdItemBlend.pairs``), where given, blends a block's outputs for new items.

    Blocks of users are scored against every item through the head's pair scoring, which
    computes the terms of each user and each item once; the interaction features (of neither
    side) are at their neutral value for every pair.
    """
    n_users, n_items = len(user_vectors), len(item_vectors)
    k = min(k, n_items)
    neutral = neutral_shared(module, width, device)
    item_terms = {}  # the items' part of the first layers, computed by the first block only
    per_block = max(1, _PAIRS_PER_BATCH // n_items)
    best_items = np.empty((n_users, k), dtype=np.int64)
    best_scores = np.empty((n_users, k), dtype=np.float32)
    for start in range(0, n_users, per_block):
        users = user_vectors[start : start + per_block]
        rows = slice(start, start + len(users))
        adjust = None if blend is None else partial(blend, users=rows)
        scores = pair_scores(
            module, tasks, weights, users, item_vectors, neutral, item_terms, adjust
        )
        scores = scores.reshape(len(users), n_items)
        mask = exclude(rows)
        if mask is not None:
            scores[torch.as_tensor(mask, device=device)] = -torch.inf
        values, positions = torch.topk(scores, k, dim=1)
        best_items[start : start + len(users)] = positions.cpu().numpy()
        best_scores[start : start + len(users)] = values.cpu().numpy()
    return best_items, best_scores


def neutral_shared(module, width, device) -> torch.Tensor:
    """The interaction features (of neither side) at their neutral value, as one head input
    row; ``width`` is (n_numeric, n_categorical)."""
    return module.shared_input(
        torch.zeros((1, width[0]), device=device),
        torch.zeros((1, width[1]), dtype=torch.long, device=device),
    )


def pair_scores(
    module, tasks, weights, users, items, neutral, item_terms=None, adjust=None, *, logits=False
) -> torch.Tensor:
    """The ranking score of every (user vector, item vector) pair, user-major, as float32:
    the ``weights``' blend of the tasks' rank scores (``item_terms``: see ``score_pairs``;
    ``adjust``, where given, changes the tasks' raw outputs first). With ``logits``, a
    classification task scores its logit instead of its probability (units before the link)."""
    outputs = module.score_pairs(users, items, neutral, item_terms, tasks=list(weights))
    if adjust is not None:
        outputs = adjust(outputs)

    def score(j):
        raw = outputs[j]
        return raw if logits and tasks[j].is_classifier else tasks[j].rank_score(raw)

    return sum(w * score(j) for j, w in weights.items()).float()


def long_frame(user_ids, item_ids, positions, scores, user_name, item_name) -> pd.DataFrame:
    """One row per (user, rank): the user id, the rank (1 = best), the item id and its score.
    Positions scored -inf (items excluded for a user) are left out: a user with fewer allowed
    items than k gets fewer rows."""
    n_users, k = positions.shape
    frame = pd.DataFrame(
        {
            user_name: np.repeat(np.asarray(user_ids), k),
            "rank": np.tile(np.arange(1, k + 1), n_users),
            item_name: np.asarray(item_ids)[positions.reshape(-1)],
            "score": scores.reshape(-1),
        }
    )
    allowed = scores.reshape(-1) > -np.inf
    return frame if allowed.all() else frame[allowed].reset_index(drop=True)


def ranked_arrays(item_ids, positions, scores, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's top-k as two arrays of shape (n_users, k), best first: the item ids (of the
    dtype of ``item_ids``) and their scores. Where a user has fewer than k items (after
    leaving out the items seen, or from a smaller catalog), the row ends in padding: score
    -inf, and as id -1 for integer ids (the largest value for unsigned ones), NaN (NaT) for
    float (datetime) ids, None for any other."""
    item_ids = np.asarray(item_ids)
    n_users, n_ranked = positions.shape
    scores = np.asarray(scores)
    kept = np.full((n_users, k), -np.inf, dtype=scores.dtype)
    kept[:, :n_ranked] = scores
    padded = ~(kept > -np.inf)
    pad, dtype = _id_padding(item_ids.dtype)
    ids = np.empty((n_users, k), dtype=dtype)
    ids[:, :n_ranked] = item_ids[positions]
    ids[padded] = pad
    return ids, kept


def _id_padding(dtype: np.dtype) -> tuple[object, np.dtype]:
    """The id that pads a short top-k list, and the ids' dtype that holds it."""
    if dtype.kind == "i":
        return -1, dtype
    if dtype.kind == "u":
        return np.iinfo(dtype).max, dtype
    if dtype.kind in "fc":
        return np.nan, dtype
    if dtype.kind in "mM":
        return np.datetime64("NaT") if dtype.kind == "M" else np.timedelta64("NaT"), dtype
    return None, np.dtype(object)
