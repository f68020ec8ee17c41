"""Top-k recommendation on MovieLens 100K u1 (protocol R2 of BENCHMARKS.md), and the time to
recommend for every user (protocol S), for skmtrec beside popularity, implicit's ALS and BPR,
EASE and an item-kNN in the same run. EASE's lambda and the item-kNN's weighting and neighbours
are chosen on a validation split of u1.base (``_peers.choose_on_validation``), never on u1.test.

    SKMTREC_DATA=../shared/data python benchmarks/bench_ranking.py [--folds 1 2 3 4 5]

Prints a markdown table and writes it to benchmarks/results/ranking.md. With ``--folds``, also
NDCG@10 on each of those folds and their mean for skmtrec and EASE (lambda chosen on each
training fold's validation split), written to benchmarks/results/ranking_folds.md. With
``--r5``, also protocol R5 (Gowalla, the LightGCN split; ``_gowalla.py``) for the peers, each
tuned on a validation split of Gowalla's train file, written to benchmarks/results/ranking_r5.md;
``--only-r5`` runs R5 alone, and ``--r5-ease`` sets EASE's penalties tried on it (none: no EASE).
``--peer-seeds 0 1 2 3 4`` refits the peers that take a seed (ALS and BPR on u1, ALS at its R5
setting on Gowalla) at each seed, for the spread of their figures, written to
benchmarks/results/ranking_peer_seeds.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import root_mean_squared_error
from threadpoolctl import threadpool_limits

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import load_gowalla, load_movielens_100k

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULTS, K, machine, movielens_xy, r2_metrics, skmtrec_lists, write
from _gowalla import (
    ALS_ITERATIONS,
    IMPLICIT_THREADS,
    ImplicitFactors,
    id_ranges,
    r5_peer_rows,
    r5_table,
    recall_ndcg_at_k,
    skmtrec_r5_row,
)
from _gowalla import EASE_GRID as EASE_R5_GRID
from _gowalla import K as R5_K
from _peers import EASE_GRID, KNN_GRID, VALIDATION_SHARE, Ease, ItemKNN, fit_validated

REPEATS = 5


def median_seconds(func) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# the rows of the per-fold table: skmtrec and EASE validated on each training fold
SKMTREC = "skmtrec (defaults: tasks only)"
EASE_ALL = "EASE (lambda on validation; all ratings)"
EASE_LIKED = "EASE (lambda on validation; ratings >= 4)"


def u1_factor_peers() -> dict:
    """implicit's ALS and BPR at their fixed u1 settings, each made from a seed."""
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking

    return {
        "implicit ALS (64 factors, reg 0.05, 30 iterations)": lambda seed: AlternatingLeastSquares(
            factors=64, regularization=0.05, iterations=30, random_state=seed
        ),
        "implicit BPR (64 factors, 200 iterations)": lambda seed: BayesianPersonalizedRanking(
            factors=64, iterations=200, random_state=seed
        ),
    }


def binary_matrix(train: pd.DataFrame):
    """The users x items matrix of 1s, with the user and item ids of its rows and columns."""
    user_index = pd.Index(np.sort(train["user_id"].unique()))
    item_index = pd.Index(np.sort(train["item_id"].unique()))
    user_items = sp.csr_matrix(
        (
            np.ones(len(train), dtype=np.float32),
            (user_index.get_indexer(train["user_id"]), item_index.get_indexer(train["item_id"])),
        ),
        shape=(len(user_index), len(item_index)),
    )
    return user_items, user_index, item_index


def factor_lists(peer, user_items, user_index, item_index, users) -> dict:
    """Each of ``users``' top-K item ids from a fitted implicit model, seen items left out."""
    codes = user_index.get_indexer(users)
    ids, _ = peer.recommend(codes, user_items[codes], N=K, filter_already_liked_items=True)
    return {u: item_index[ids[j]].tolist() for j, u in enumerate(users)}


# ALS's setting on R5 as the published R5 run chose it on Gowalla's validation split at seed 0
# (regularization, alpha); --peer-seeds refits it without tuning again
ALS_R5_SETTING = (1.0, 100.0)


def peer_seeds_table(seeds) -> str:
    """The seeded peers' figures at each seed: R2 NDCG@10 on u1 for ALS and BPR at their
    fixed settings, R5 Recall@20 and NDCG@20 for ALS at its R5 setting (not tuned again)."""
    from implicit.als import AlternatingLeastSquares

    data = load_movielens_100k(fold=1)
    train, test = data.train, data.test
    items = np.sort(data.ratings["item_id"].unique())
    users = np.sort(test.loc[test["rating"] >= 4, "user_id"].unique())
    user_items, user_index, item_index = binary_matrix(train)
    scores: dict[str, list[float]] = {}
    for name, make in u1_factor_peers().items():
        for seed in seeds:
            peer = make(seed)
            peer.fit(user_items, show_progress=False)
            lists = factor_lists(peer, user_items, user_index, item_index, users)
            scores.setdefault(f"{name}: R2 NDCG@10 on u1", []).append(
                r2_metrics(lists, test, items)["ndcg"]
            )
    gowalla = load_gowalla()
    n_users, n_items = id_ranges(gowalla)
    tested = np.sort(gowalla.test["user_id"].unique())
    reg, alpha = ALS_R5_SETTING
    name = f"implicit ALS (regularization {reg}, alpha {alpha}, {ALS_ITERATIONS} iterations)"
    for seed in seeds:
        with threadpool_limits(limits=IMPLICIT_THREADS):  # as R5 runs its peers
            als = ImplicitFactors(
                AlternatingLeastSquares, n_users, n_items, random_state=seed,
                regularization=reg, alpha=alpha, iterations=ALS_ITERATIONS,
                num_threads=IMPLICIT_THREADS,
            ).fit(gowalla.train)  # fmt: skip
            figures = recall_ndcg_at_k(als.top(tested), gowalla.test, tested)
        scores.setdefault(f"{name}: R5 Recall@{R5_K}", []).append(figures["recall"])
        scores.setdefault(f"{name}: R5 NDCG@{R5_K}", []).append(figures["ndcg"])
    lines = [
        f"The seeded peers over seeds {', '.join(map(str, seeds))}; {machine()}.",
        "",
        "| model: figure | " + " | ".join(f"seed {s}" for s in seeds) + " | mean (min-max) |",
        "| --- | " + " | ".join("---" for _ in seeds) + " | --- |",
    ]
    for name, values in scores.items():
        cells = " | ".join(f"{v:.4f}" for v in values)
        lines.append(
            f"| {name} | {cells} | {np.mean(values):.4f} "
            f"({np.min(values):.4f}-{np.max(values):.4f}) |"
        )
    return write("\n".join(lines), "ranking_peer_seeds.md")


def u1_table() -> tuple[str, dict[str, float]]:
    """R2 on u1 for every model, and the NDCG@10 of the per-fold table's rows on u1."""
    data = load_movielens_100k(fold=1)
    train, test = data.train, data.test
    relevant = test[test["rating"] >= 4]
    users = np.sort(relevant["user_id"].unique())
    items = np.sort(data.ratings["item_id"].unique())
    all_users = np.sort(train["user_id"].unique())
    rows = []

    # skmtrec at its defaults: one model that rates and ranks
    start = time.perf_counter()
    model = MultiTaskRecommender(**DEFAULTS).fit(*movielens_xy(train))
    fit_s = time.perf_counter() - start
    rmse = root_mean_squared_error(
        test["rating"], np.clip(model.predict_tasks(movielens_xy(test)[0])["rating"], 1, 5)
    )
    rows.append(
        {
            "model": SKMTREC,
            **r2_metrics(skmtrec_lists(model, test), test, items),
            "fit_s": fit_s,
            "rec_s": median_seconds(lambda: model.recommend(all_users, k=K)),
            "rmse": rmse,
        }
    )

    # popularity
    counts = train["item_id"].value_counts()
    seen = train.groupby("user_id")["item_id"].apply(set).to_dict()
    popular = counts.index.to_numpy()
    lists = {u: [i for i in popular[: K + len(seen[u])] if i not in seen[u]][:K] for u in users}
    rows.append(
        {
            "model": "Popularity (count in u1.base)",
            **r2_metrics(lists, test, items),
            "fit_s": 0.0,
            "rec_s": float("nan"),
            "rmse": float("nan"),
        }
    )

    # implicit ALS and BPR on the binary user x item matrix
    user_items, user_index, item_index = binary_matrix(train)
    for name, make in u1_factor_peers().items():
        peer = make(0)
        start = time.perf_counter()
        peer.fit(user_items, show_progress=False)
        fit_s = time.perf_counter() - start
        lists = factor_lists(peer, user_items, user_index, item_index, users)
        rows.append(
            {
                "model": name,
                **r2_metrics(lists, test, items),
                "fit_s": fit_s,
                "rec_s": median_seconds(
                    lambda p=peer: p.recommend(
                        np.arange(user_items.shape[0]),
                        user_items,
                        N=K,
                        filter_already_liked_items=True,
                    )
                ),
                "rmse": float("nan"),
            }
        )

    # EASE on every rating and on ratings >= 4, and an item-kNN, each tuned on validation
    ease_all = fit_validated(Ease, EASE_GRID, train)
    ease_liked = fit_validated(lambda lam: Ease(lam, min_rating=4), EASE_GRID, train)
    knn = fit_validated(lambda value: ItemKNN(value[1], weighting=value[0]), KNN_GRID, train)
    weighting, neighbours = knn.chosen_
    for name, peer in (
        (f"EASE (lambda={ease_all.chosen_} on validation; all ratings)", ease_all),
        (f"EASE (lambda={ease_liked.chosen_} on validation; ratings >= 4)", ease_liked),
        (f"item-kNN, implicit {weighting}, {neighbours} neighbours (both on validation)", knn),
    ):
        rows.append(
            {
                "model": name,
                **r2_metrics(peer.recommend(users), test, items),
                "fit_s": peer.fit_seconds_,
                "rec_s": median_seconds(lambda p=peer: p.recommend(all_users)),
                "rmse": float("nan"),
            }
        )

    lines = [
        f"MovieLens 100K u1 (R2: {len(users)} users with a test rating >= 4, every unrated item "
        f"ranked); recommend = top-{K} for all {len(all_users)} users over all "
        f"{len(item_index)} items, median of {REPEATS}; {machine()}. EASE and item-kNN: "
        f"best NDCG@10 on {VALIDATION_SHARE:.0%} of u1.base held out (seed 0), then refitted on "
        "all of u1.base (fit seconds: the refit).",
        "",
        "| model | NDCG@10 | Recall@10 | HR@10 | rating RMSE | fit seconds | recommend seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        rmse = "-" if np.isnan(r["rmse"]) else f"{r['rmse']:.4f}"
        rec_s = "-" if np.isnan(r["rec_s"]) else f"{r['rec_s']:.3f}"
        lines.append(
            f"| {r['model']} | {r['ndcg']:.4f} | {r['recall']:.4f} | {r['hr']:.4f} | "
            f"{rmse} | {r['fit_s']:.2f} | {rec_s} |"
        )
    ndcg = {r["model"]: r["ndcg"] for r in rows}
    u1 = {
        SKMTREC: ndcg[SKMTREC],
        EASE_ALL: ndcg[f"EASE (lambda={ease_all.chosen_} on validation; all ratings)"],
        EASE_LIKED: ndcg[f"EASE (lambda={ease_liked.chosen_} on validation; ratings >= 4)"],
    }
    return write("\n".join(lines), "ranking.md"), u1


def folds_table(folds, known: dict[int, dict[str, float]]) -> str:
    """NDCG@10 by R2 on each fold, for skmtrec's defaults and EASE validated on the fold;
    ``known`` holds folds already scored (u1, by ``u1_table``), which are not fitted again."""
    scores: dict[str, dict[int, float]] = {}
    for fold in folds:
        if fold in known:
            for name, value in known[fold].items():
                scores.setdefault(name, {})[fold] = value
            continue
        data = load_movielens_100k(fold=fold)
        train, test = data.train, data.test
        items = np.sort(data.ratings["item_id"].unique())
        users = np.sort(test.loc[test["rating"] >= 4, "user_id"].unique())
        model = MultiTaskRecommender(**DEFAULTS).fit(*movielens_xy(train))
        lists = {SKMTREC: skmtrec_lists(model, test)}
        lists[EASE_ALL] = fit_validated(Ease, EASE_GRID, train).recommend(users)
        lists[EASE_LIKED] = fit_validated(
            lambda lam: Ease(lam, min_rating=4), EASE_GRID, train
        ).recommend(users)
        for name, ranked in lists.items():
            scores.setdefault(name, {})[fold] = r2_metrics(ranked, test, items)["ndcg"]
            print(f"R2 u{fold} {name}: NDCG@10 {scores[name][fold]:.4f}", flush=True)
    header = " | ".join(f"u{fold}" for fold in folds)
    lines = [
        f"R2 NDCG@10 on MovieLens 100K {', '.join(f'u{f}' for f in folds)}; {machine()}.",
        "",
        f"| model | {header} | mean |",
        f"| --- | {' | '.join('---' for _ in folds)} | --- |",
    ]
    for name, by_fold in scores.items():
        cells = " | ".join(f"{by_fold[fold]:.4f}" for fold in folds)
        lines.append(f"| {name} | {cells} | {np.mean(list(by_fold.values())):.4f} |")
    return write("\n".join(lines), "ranking_folds.md")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, nargs="*", default=[])
    parser.add_argument("--r5", action="store_true", help="also R5 on Gowalla (the peers)")
    parser.add_argument("--only-r5", action="store_true", help="R5 on Gowalla alone")
    parser.add_argument(
        "--r5-ease",
        type=float,
        nargs="*",
        default=list(EASE_R5_GRID),
        help="EASE's penalties tried on R5's validation split; none leaves EASE out",
    )
    parser.add_argument(
        "--peer-seeds", type=int, nargs="+", help="only the seeded peers, at each of these seeds"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if args.peer_seeds:
        return peer_seeds_table(args.peer_seeds)
    tables = []
    if not args.only_r5:
        table, u1 = u1_table()
        tables.append(table)
        if args.folds:
            tables.append(folds_table(args.folds, known={1: u1}))
    if args.r5 or args.only_r5:
        rows = [skmtrec_r5_row(), *r5_peer_rows(ease_grid=args.r5_ease)]
        tables.append(write(r5_table(rows), "ranking_r5.md"))
    return "\n\n".join(tables)


if __name__ == "__main__":
    main()
