"""Rating prediction on MovieLens 100K u1 (protocol R1 of BENCHMARKS.md, one fold), with the
like task's ROC AUC, for skmtrec's default configuration beside Surprise's models in the same run.

    pip install -e ".[bench]"
    SKMTREC_DATA=../shared/data python benchmarks/bench_core_u1.py

Prints a markdown table and writes it to benchmarks/results/core_u1.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import mean_absolute_error, roc_auc_score, root_mean_squared_error

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import GENRES, load_movielens_100k

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write

FEATURES = ["user_id", "item_id", "age", "gender", "occupation", *GENRES]


def skmtrec_row(train, test) -> dict:
    def xy(frame):
        X = frame[FEATURES].copy()
        return X, frame[["rating"]].assign(like=(frame["rating"] >= 4).astype(float))

    (X_train, y_train), (X_test, y_test) = xy(train), xy(test)
    start = time.perf_counter()
    model = MultiTaskRecommender(tasks={"rating": "regression", "like": "binary"}, random_state=0)
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    rating = np.clip(model.predict_tasks(X_test)["rating"], 1, 5)
    return {
        "model": "skmtrec MultiTaskRecommender (defaults, rating + like)",
        "rmse": root_mean_squared_error(y_test["rating"], rating),
        "mae": mean_absolute_error(y_test["rating"], rating),
        "auc": roc_auc_score(y_test["like"], model.predict_proba(X_test)[:, 1]),
        "fit_s": fit_s,
    }


def surprise_rows(train, test) -> list[dict]:
    from surprise import SVD, BaselineOnly, Dataset, Reader
    from surprise import accuracy as surprise_accuracy

    reader = Reader(rating_scale=(1, 5))
    trainset = Dataset.load_from_df(
        train[["user_id", "item_id", "rating"]], reader
    ).build_full_trainset()
    testset = list(test[["user_id", "item_id", "rating"]].itertuples(index=False, name=None))
    rows = []
    for name, algo in (
        ("Surprise BaselineOnly", BaselineOnly(verbose=False)),
        ("Surprise SVD", SVD(random_state=0)),
    ):
        start = time.perf_counter()
        algo.fit(trainset)
        fit_s = time.perf_counter() - start
        predictions = algo.test(testset)
        rows.append(
            {
                "model": name,
                "rmse": surprise_accuracy.rmse(predictions, verbose=False),
                "mae": surprise_accuracy.mae(predictions, verbose=False),
                # the estimated rating ranks likes as well as any score of the model does
                "auc": roc_auc_score(
                    [p.r_ui >= 4 for p in predictions], [p.est for p in predictions]
                ),
                "fit_s": fit_s,
            }
        )
    return rows


def main() -> str:
    torch.set_num_threads(2)
    data = load_movielens_100k(fold=1)
    rows = [skmtrec_row(data.train, data.test), *surprise_rows(data.train, data.test)]
    lines = [
        f"MovieLens 100K u1.base -> u1.test; {machine()}",
        "",
        "| model | RMSE | MAE | like ROC AUC | fit seconds |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['model']} | {r['rmse']:.4f} | {r['mae']:.4f} | {r['auc']:.4f} | {r['fit_s']:.2f} |"
        for r in rows
    ]
    return write("\n".join(lines), "core_u1.md")


if __name__ == "__main__":
    main()
