"""Multi-task gain (protocol R4): the same network trained on rating and implicit feedback
together against one trained per task, with the same defaults and budget, on MovieLens u1.

    SKMTREC_DATA=../shared/data python benchmarks/bench_multitask.py

Prints a markdown table and writes it to benchmarks/results/multitask.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import root_mean_squared_error

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import load_movielens_100k

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CONFIG, machine, movielens_xy, r2_metrics, skmtrec_lists, write


def main() -> str:
    torch.set_num_threads(2)
    data = load_movielens_100k(fold=1)
    X, y = movielens_xy(data.train)
    X_test, _ = movielens_xy(data.test)
    items = np.sort(data.ratings["item_id"].unique())
    setups = {
        "joint: rating + implicit (weight 3)": CONFIG,
        "rating alone": {**CONFIG, "tasks": {"rating": "regression"}, "task_weights": None},
        "implicit alone": {**CONFIG, "tasks": {"interacted": "implicit"}, "task_weights": None},
    }
    lines = [
        f"R4 on MovieLens u1: each row one model, same defaults, early stopping and "
        f"random_state; {machine()}.",
        "",
        "| model | rating RMSE (R1) | NDCG@10 (R2) | Recall@10 | HR@10 | fit seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, params in setups.items():
        start = time.perf_counter()
        model = MultiTaskRecommender(**params).fit(X, y if "rating" in params["tasks"] else None)
        fit_s = time.perf_counter() - start
        rmse, ranking = "-", {"ndcg": np.nan, "recall": np.nan, "hr": np.nan}
        if "rating" in params["tasks"]:
            pred = np.clip(model.predict_tasks(X_test)["rating"], 1, 5)
            rmse = f"{root_mean_squared_error(data.test['rating'], pred):.4f}"
        if "interacted" in params["tasks"]:
            ranking = r2_metrics(skmtrec_lists(model, data.test), data.test, items)
        cells = [
            f"{ranking[m]:.4f}" if np.isfinite(ranking[m]) else "-"
            for m in ("ndcg", "recall", "hr")
        ]
        lines.append(f"| {name} | {rmse} | {' | '.join(cells)} | {fit_s:.1f} |")
        print(lines[-1], flush=True)
    return write("\n".join(lines), "multitask.md")


if __name__ == "__main__":
    main()
