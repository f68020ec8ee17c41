"""Rating prediction (protocol R1: u1 and the mean of u1..u5) and cold-start items (R3) on
MovieLens 100K, skmtrec at its defaults beside Surprise and myFM in the same run.

    SKMTREC_DATA=../shared/data python benchmarks/bench_rating.py [--folds 1 2 3 4 5] [--only r3]

Prints markdown tables and writes them to benchmarks/results/rating.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from skmtrec import MultiTaskRecommender, SentenceEmbedder
from skmtrec.datasets import GENRES, load_movielens_100k
from skmtrec.model_selection import ColdItemSplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from _common import DEFAULTS, K, machine, movielens_xy, r2_metrics, skmtrec_lists, write
from _peers import MYFM_RANK, myfm_fit_predict
from text_pipeline import make_text_pipeline
from text_pipeline import movielens_xy as movielens_text_xy


def surprise_models():
    """Surprise's models, each made from a seed (BaselineOnly and KNNBaseline ignore it)."""
    from surprise import SVD, BaselineOnly, KNNBaseline, SVDpp

    return {
        "Surprise BaselineOnly": (lambda seed: BaselineOnly(verbose=False), False),
        "Surprise SVD": (lambda seed: SVD(random_state=seed), True),
        "Surprise SVD++ (cache_ratings)": (
            lambda seed: SVDpp(random_state=seed, cache_ratings=True),
            True,
        ),
        "Surprise KNNBaseline (item, pearson_baseline)": (
            lambda seed: KNNBaseline(
                sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
            ),
            False,
        ),
    }


def myfm_models():
    name = f"myFM (rank {MYFM_RANK} from its ML-100K tutorial)"
    return {
        f"{name}: ids": myfm_fit_predict,
        f"{name}: ids + age, gender, occupation, genres": partial(myfm_fit_predict, side=True),
        f"{name}: ids + side features + rated items and raters": partial(
            myfm_fit_predict, side=True, implicit=True
        ),
    }


def surprise_fit_predict(make, train, test, seed=0):
    from surprise import Dataset, Reader

    trainset = Dataset.load_from_df(
        train[["user_id", "item_id", "rating"]], Reader(rating_scale=(1, 5))
    ).build_full_trainset()
    algo = make(seed)
    start = time.perf_counter()
    algo.fit(trainset)
    fit_s = time.perf_counter() - start
    pred = [algo.predict(u, i).est for u, i in zip(test["user_id"], test["item_id"], strict=True)]
    return np.clip(pred, 1, 5), fit_s


def skmtrec_fit_predict(train, test, params=DEFAULTS, seed=None):
    """The defaults' rating predictions, fit seconds and R2's NDCG@10 over every item of the
    data, from the same model."""
    X, y = movielens_xy(train)
    params = params if seed is None else {**params, "random_state": seed}
    start = time.perf_counter()
    model = MultiTaskRecommender(**params).fit(X, y)
    fit_s = time.perf_counter() - start
    items = np.union1d(train["item_id"].unique(), test["item_id"].unique())
    ndcg = r2_metrics(skmtrec_lists(model, test), test, items)["ndcg"]
    return np.clip(model.predict_tasks(movielens_xy(test)[0])["rating"], 1, 5), fit_s, ndcg


def user_biases(train) -> tuple[float, pd.Series]:
    """The global mean rating and each user's mean rating minus it."""
    mean = train["rating"].mean()
    return mean, train.groupby("user_id")["rating"].mean() - mean


def mean_plus_user_bias(train, test) -> np.ndarray:
    mean, bias = user_biases(train)
    return np.clip(mean + test["user_id"].map(bias).fillna(0).to_numpy(), 1, 5)


SKMTREC = "skmtrec (defaults: tasks only)"


def r1(data_folds, seeds=(0,)) -> str:
    """R1 over the folds at seed 0, and on u1 over ``seeds`` for every model that takes one."""
    results: dict[str, list] = {}
    u1_predictions = []  # skmtrec's on u1, one per seed
    runs = {
        SKMTREC: (lambda train, test, seed: skmtrec_fit_predict(train, test, seed=seed), True),
        **{
            name: (partial(surprise_fit_predict, make), seeded)
            for name, (make, seeded) in surprise_models().items()
        },
        **{
            name: (lambda train, test, seed, f=f: f(train, test, random_state=seed), True)
            for name, f in myfm_models().items()
        },
    }
    for fold, (train, test) in data_folds.items():
        for name, (fit_predict, seeded) in runs.items():
            for seed in seeds if fold == 1 and seeded else seeds[:1]:
                pred, fit_s, *ndcg = fit_predict(train, test, seed)
                ndcg = ndcg[0] if ndcg else np.nan
                if name == SKMTREC and fold == 1:
                    u1_predictions.append(pred)
                results.setdefault(name, []).append(
                    (
                        fold,
                        seed,
                        root_mean_squared_error(test["rating"], pred),
                        mean_absolute_error(test["rating"], pred),
                        ndcg,
                        fit_s,
                    )
                )
                print(f"R1 u{fold} seed {seed} {name}: RMSE {results[name][-1][2]:.4f}", flush=True)
    lines = [
        f"R1, MovieLens 100K official splits u{'/u'.join(str(f) for f in data_folds)} at seed "
        f"{seeds[0]}, and u1 over seeds {', '.join(map(str, seeds))} (models without a seed: "
        f"one fit); {machine()}. skmtrec's NDCG@10 is R2's, from the same model.",
        "",
        "| model | RMSE u1 | RMSE u1 over seeds: mean (min-max) | RMSE mean of folds (min-max) "
        "| MAE mean | fit seconds (u1) | NDCG@10 u1 over seeds: mean (min-max) "
        "| NDCG@10 mean of folds (min-max) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rows in results.items():
        frame = pd.DataFrame(rows, columns=["fold", "seed", "rmse", "mae", "ndcg", "fit_s"])
        first = frame[frame["seed"] == seeds[0]].set_index("fold")
        u1 = frame[frame["fold"] == 1]
        cells = [
            f"{first.loc[1, 'rmse']:.4f}" if 1 in first.index else "-",
            _spread(u1["rmse"]) if len(u1) > 1 else "-",
            _spread(first["rmse"]),
            f"{first['mae'].mean():.4f}",
            f"{first.loc[1, 'fit_s']:.2f}" if 1 in first.index else "-",
            _spread(u1["ndcg"]) if u1["ndcg"].notna().any() else "-",
            _spread(first["ndcg"]) if first["ndcg"].notna().any() else "-",
        ]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    if len(u1_predictions) > 1:
        test = data_folds[1][1]
        mean = np.mean(u1_predictions, axis=0)
        lines.append(
            f"| skmtrec, the mean of its {len(u1_predictions)} seeds' predictions (as many fits) "
            f"| {root_mean_squared_error(test['rating'], mean):.4f} | - | - | "
            f"{mean_absolute_error(test['rating'], mean):.4f} (u1) | - | - | - |"
        )
    return "\n".join(lines)


def _spread(values: pd.Series) -> str:
    return f"{values.mean():.4f} ({values.min():.4f}-{values.max():.4f})"


def titles_x(frame: pd.DataFrame, year_fill: float | None = None) -> pd.DataFrame:
    """The text pipeline's X; with ``year_fill``, also the year as a number (missing years
    filled with it)."""
    X = movielens_text_xy(frame, text=True)[0]
    return X if year_fill is None else X.assign(year=frame["year"].fillna(year_fill).to_numpy())


def title_texts(frame: pd.DataFrame) -> pd.Series:
    """Each row's movie title with its year, as the text pipeline embeds it."""
    return titles_x(frame)["title"]


def content_only_lists(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """R3's content-only ranking: cosine of a cold item's title embedding to the mean title
    embedding of the user's training items."""
    embed = SentenceEmbedder(normalize_embeddings=True)
    items = test.drop_duplicates("item_id")
    cold = embed.fit_transform(title_texts(items).to_frame())
    seen = embed.transform(title_texts(train).to_frame())
    profiles = pd.DataFrame(seen).groupby(train["user_id"].to_numpy()).mean()
    users = np.sort(test.loc[test["rating"] >= 4, "user_id"].unique())
    scores = profiles.loc[users].to_numpy() @ cold.T
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return {u: list(items["item_id"].to_numpy()[r]) for u, r in zip(users, ranked, strict=True)}


def item_content(frame: pd.DataFrame, year_fill: float) -> pd.DataFrame:
    """One row per item: its genre flags and its year (scaled, squared, before 1970, 1990)."""
    items = frame.drop_duplicates("item_id").set_index("item_id")
    decades = (items["year"].fillna(year_fill) - 1990) / 10
    year = pd.DataFrame(
        {"year": decades, "year2": decades**2, "pre1970": decades < -2, "pre1990": decades < 0}
    )
    return pd.concat([items[list(GENRES)], year], axis=1).astype(float).assign(one=1.0)


# R3's content ridge shrinks each item's mean residual toward 0 as if it had this many more ratings
ITEM_BIAS_SHRINKAGE = 25


def content_ridge_fit_predict(train, test, alpha: float, lam: float) -> np.ndarray:
    """R3's content peer: the global mean and user bias, an item bias regressed on the item's
    content (ridge ``alpha``), and a ridge per user (``lam``) of the rest on the same content."""
    content = item_content(pd.concat([train, test]), train["year"].median())
    mean, user_bias = user_biases(train)
    rest = train["rating"] - mean - train["user_id"].map(user_bias)
    per_item = rest.groupby(train["item_id"]).agg(["sum", "count"])
    padded = per_item["count"] + ITEM_BIAS_SHRINKAGE
    bias = Ridge(alpha=alpha, fit_intercept=False).fit(
        content.loc[per_item.index],
        per_item["sum"] / padded,
        sample_weight=per_item["count"] / padded,
    )
    item_bias = pd.Series(bias.predict(content), index=content.index)
    rest = (rest - train["item_id"].map(item_bias)).to_numpy()
    rows_content = content.loc[train["item_id"]].to_numpy()
    weights = {}
    for user, rows in train.groupby("user_id").indices.items():
        A = rows_content[rows]
        weights[user] = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ rest[rows])
    users = test["user_id"].to_numpy()
    per_user = np.stack([weights.get(u, np.zeros(content.shape[1])) for u in users])
    inter = (content.loc[test["item_id"]].to_numpy() * per_user).sum(axis=1)
    known = test["user_id"].map(user_bias).fillna(0).to_numpy()
    return np.clip(mean + known + test["item_id"].map(item_bias).to_numpy() + inter, 1, 5)


def content_ridge_tuned(train, test) -> tuple[np.ndarray, tuple[float, float]]:
    """``content_ridge_fit_predict`` with alpha and lam chosen on 20% of the training items
    held out (ColdItemSplit seed 1), refitted on the whole training set."""
    inner, held = next(ColdItemSplit(0.2, random_state=1).split(train))
    inner, held = train.iloc[inner], train.iloc[held]
    grid = [(a, lam) for a in (0.3, 1.0, 3.0) for lam in (10.0, 30.0, 100.0)]
    errors = [
        root_mean_squared_error(held["rating"], content_ridge_fit_predict(inner, held, *params))
        for params in grid
    ]
    best = grid[int(np.argmin(errors))]
    return content_ridge_fit_predict(train, test, *best), best


def text_pipeline_on_cold_items(train, test, year_fill: float | None = None):
    """R3 for the text Pipeline at the defaults: RMSE on the cold items' ratings, NDCG@10
    ranking only the cold items, and the fit seconds."""
    start = time.perf_counter()
    pipeline = make_text_pipeline(**DEFAULTS).fit(titles_x(train, year_fill), train[["rating"]])
    fit_s = time.perf_counter() - start
    model, features = pipeline[-1], pipeline[:-1]
    pred = np.clip(
        model.predict_tasks(features.transform(titles_x(test, year_fill)))["rating"], 1, 5
    )
    table = features.transform(titles_x(test.drop_duplicates("item_id"), year_fill))
    table = table[[model.item_col_, *model.item_features_]]
    cold_items = np.sort(test["item_id"].unique())
    ndcg = r2_metrics(skmtrec_lists(model, test, table), test, cold_items)["ndcg"]
    return root_mean_squared_error(test["rating"], pred), ndcg, fit_s


def r3(ratings: pd.DataFrame, seed: int = 0) -> str:
    train_rows, test_rows = next(ColdItemSplit(0.2, random_state=seed).split(ratings))
    train, test = ratings.iloc[train_rows], ratings.iloc[test_rows]
    cold_items = np.sort(test["item_id"].unique())
    first_rows = test.drop_duplicates("item_id")
    results = {
        "global mean + user bias": (
            root_mean_squared_error(test["rating"], mean_plus_user_bias(train, test)),
            None,
        ),
        "content only: title cosine to the user's items": (
            None,
            r2_metrics(content_only_lists(train, test), test, cold_items)["ndcg"],
        ),
    }
    pred, (alpha, lam) = content_ridge_tuned(train, test)
    results[
        f"content ridge: item bias and a ridge per user on genres and year "
        f"(alpha {alpha:g}, lambda {lam:g}, validated)"
    ] = (root_mean_squared_error(test["rating"], pred), None)
    X, y = movielens_xy(train)
    model = MultiTaskRecommender(**DEFAULTS).fit(X, y)
    pred = np.clip(model.predict_tasks(movielens_xy(test)[0])["rating"], 1, 5)
    table = movielens_xy(first_rows)[0][[model.item_col_, *model.item_features_]]
    results["skmtrec, defaults (no text)"] = (
        root_mean_squared_error(test["rating"], pred),
        r2_metrics(skmtrec_lists(model, test, table), test, cold_items)["ndcg"],
    )
    year = train["year"].median()
    for name, year_fill in (
        ("skmtrec + titles, defaults (examples/text_pipeline.py)", None),
        ("skmtrec + titles + the year as a number, defaults", year),
    ):
        rmse, ndcg, _ = text_pipeline_on_cold_items(train, test, year_fill)
        results[name] = (rmse, ndcg)
    baseline = results["global mean + user bias"][0]
    relevant = test[test["rating"] >= 4]
    lines = [
        f"R3, cold-start items: ColdItemSplit(0.2, random_state={seed}) holds out "
        f"{len(cold_items)} items ({len(test)} ratings); NDCG@10 ranks only those items for "
        f"the {relevant['user_id'].nunique()} users with a test rating >= 4 (relevant: >= 4); "
        f"{machine()}.",
        "",
        "| model | RMSE on cold items | vs baseline | NDCG@10 among cold items |",
        "| --- | --- | --- | --- |",
    ]
    for name, (rmse, ndcg) in results.items():
        cells = ["-" if rmse is None else f"{rmse:.4f}"]
        cells.append("-" if rmse is None else f"{100 * (rmse / baseline - 1):+.1f}%")
        cells.append("-" if ndcg is None else f"{ndcg:.4f}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def r3_seeds(ratings: pd.DataFrame, seeds: list[int]) -> str:
    """R3 at the defaults over several ``ColdItemSplit`` seeds: the text Pipeline against the
    global mean + user bias, and its NDCG@10 among the cold items beside content only."""
    rows = []
    for seed in seeds:
        train_rows, test_rows = next(ColdItemSplit(0.2, random_state=seed).split(ratings))
        train, test = ratings.iloc[train_rows], ratings.iloc[test_rows]
        cold_items = np.sort(test["item_id"].unique())
        baseline = root_mean_squared_error(test["rating"], mean_plus_user_bias(train, test))
        content = r2_metrics(content_only_lists(train, test), test, cold_items)["ndcg"]
        rmse, ndcg, fit_s = text_pipeline_on_cold_items(train, test)
        rows.append((seed, len(cold_items), len(test), baseline, rmse, content, ndcg, fit_s))
        print(f"R3 seed {seed}: {rmse:.4f} against {baseline:.4f}", flush=True)
    frame = pd.DataFrame(
        rows, columns=["seed", "items", "ratings", "baseline", "rmse", "content", "ndcg", "fit_s"]
    )
    frame["gain"] = 100 * (frame["rmse"] / frame["baseline"] - 1)
    lines = [
        "R3 over ColdItemSplit(0.2, random_state=seed): skmtrec + titles at its defaults "
        f"(examples/text_pipeline.py) against the global mean + user bias; {machine()}.",
        "",
        "| seed | cold items (ratings) | baseline RMSE | skmtrec RMSE | vs baseline "
        "| NDCG@10 among cold items | content only NDCG@10 | fit seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in frame.itertuples():
        lines.append(
            f"| {r.seed} | {r.items} ({r.ratings}) | {r.baseline:.4f} | {r.rmse:.4f} "
            f"| {r.gain:+.2f}% | {r.ndcg:.4f} | {r.content:.4f} | {r.fit_s:.1f} |"
        )
    mean = frame.mean(numeric_only=True)
    lines.append(
        f"| mean (worst) | - | {mean['baseline']:.4f} | {mean['rmse']:.4f} "
        f"| {mean['gain']:+.2f}% ({frame['gain'].max():+.2f}%) | {mean['ndcg']:.4f} "
        f"| {mean['content']:.4f} | {mean['fit_s']:.1f} |"
    )
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--only", choices=["r1", "r3"], help="one protocol's table")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="R1: seeds of the models on u1"
    )
    parser.add_argument(
        "--r3-seeds", type=int, nargs="+", help="R3's text Pipeline over these split seeds only"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if args.r3_seeds:
        return write(r3_seeds(load_movielens_100k().ratings, args.r3_seeds), "r3_seeds.md")
    tables = []
    if args.only != "r3":
        folds = {}
        for fold in args.folds:
            data = load_movielens_100k(fold=fold)
            folds[fold] = (data.train, data.test)
        tables.append(r1(folds, args.seeds))
    if args.only != "r1":
        tables.append(r3(load_movielens_100k().ratings))
    return write("\n\n".join(tables), "rating.md")


if __name__ == "__main__":
    main()
