"""What the benchmark scripts share: the MovieLens set-up, the defaults' configuration, R2."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from skorch.callbacks import Callback

from skmtrec.datasets._movielens import FEATURE_NAMES, features_and_target
from skmtrec.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k

K = 10
FEATURES = list(FEATURE_NAMES)
# The defaults: what a user who never tunes gets. One model rates and ranks; every other
# parameter is the estimator's default (chosen with validate.py, never on a test fold).
DEFAULTS = {"tasks": {"rating": "regression", "interacted": "implicit"}, "random_state": 0}


def movielens_xy(frame: pd.DataFrame):
    """X: ids, age, gender, occupation, genre flags (bool); y: the rating. The coding of
    ``load_movielens_100k(return_X_y=True)``, for any rows of the loader's tables."""
    return features_and_target(frame)


def r2_metrics(lists: dict, test: pd.DataFrame, items: np.ndarray) -> dict[str, float]:
    """Protocol R2 from each user's ranked item ids (best first): relevant = test rating >= 4."""
    relevant = test[test["rating"] >= 4]
    users = np.sort(relevant["user_id"].unique())
    row, col = pd.Index(users), pd.Index(items)
    y_true = np.zeros((len(users), len(items)))
    y_true[row.get_indexer(relevant["user_id"]), col.get_indexer(relevant["item_id"])] = 1
    y_score = np.full(y_true.shape, -np.inf)
    for u in users:
        ranked = lists.get(u, [])
        y_score[row.get_loc(u), col.get_indexer(ranked)] = -np.arange(len(ranked))
    return {
        "ndcg": ndcg_at_k(y_true, y_score, K),
        "recall": recall_at_k(y_true, y_score, K),
        "hr": hit_rate_at_k(y_true, y_score, K),
    }


def skmtrec_lists(model, test: pd.DataFrame, items: pd.DataFrame | None = None) -> dict:
    """Each R2 user's top-K (of ``items``, an id and item-side feature table, if given)."""
    users = np.sort(test.loc[test["rating"] >= 4, "user_id"].unique())
    recs = model.recommend(users, k=K, items=items)
    return recs.groupby("user_id")["item_id"].apply(list).to_dict()


def machine(device: str = "cpu") -> str:
    host = (
        f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    if torch.device(device).type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, {host}"
    return host


def write(table: str, name: str) -> str:
    print(table)
    out = Path(__file__).parent / "results" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")
    return table


class BatchTimer(Callback):
    """Times ``batches`` training batches after ``warm_up`` ones, then ends the fit by raising
    ``EnoughBatches``; ``seconds`` is their total, ``weights`` the network's parameters."""

    def __init__(self, batches: int, warm_up: int = 5):
        self.batches, self.warm_up = batches, warm_up

    def initialize(self):
        self.seen, self.seconds, self.weights = 0, None, 0
        return self

    def on_train_begin(self, net, **kwargs):
        self.weights = sum(p.numel() for p in net.module_.parameters())

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self.seen += 1
        if self.seen == self.warm_up:
            self.start = _now(net.device)
        elif self.seen == self.warm_up + self.batches:
            self.seconds = _now(net.device) - self.start
            raise EnoughBatches


def _now(device) -> float:
    """The time once the device has done the work queued on it (a GPU runs behind the host)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class EnoughBatches(Exception):
    """Ends a timed fit once its batches are measured."""
