"""Titles as features: a Pipeline of SentenceEmbedder and MultiTaskRecommender on MovieLens.

The ColumnTransformer embeds each movie's title (with its year, as GroupLens writes it); ids
and the other features pass through by name. Both steps are at their defaults. Items never seen
in fit are then served from their title. Run:

    SKMTREC_DATA=../shared/data python examples/text_pipeline.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from skmtrec import MultiTaskRecommender, SentenceEmbedder, make_task_scorer
from skmtrec.datasets import GENRES, load_movielens_100k

TASKS = {"rating": "regression", "like": "binary"}
FEATURES = ["user_id", "item_id", "age", "gender", "occupation", *GENRES]


def movielens_xy(frame: pd.DataFrame, *, text: bool = True):
    """X (ids, user features, genre flags and, with ``text``, the title) and y (rating, like)."""
    X = frame[FEATURES].copy()
    if text:
        year = frame["year"].map(lambda v: "" if pd.isna(v) else f" ({int(v)})")
        X["title"] = frame["title"] + year
    y = frame[["rating"]].assign(like=(frame["rating"] >= 4).astype(float))
    return X, y


def make_text_pipeline(tasks=TASKS, **model_params) -> Pipeline:
    """ColumnTransformer(title -> SentenceEmbedder; the rest passed on) -> recommender.

    The title's 384 embedding columns are item-side features (one value per item), so the
    recommender maps them into each item's vector through their first principal components
    over the items (``content_components``): what titles share across movies, not what singles
    one out. ``model_params`` go to the recommender, over ``random_state=0``.
    """
    features = ColumnTransformer(
        [("title", SentenceEmbedder(), ["title"])],
        remainder="passthrough",
        verbose_feature_names_out=False,  # keep `user_id` and `item_id` as they are named
    ).set_output(transform="pandas")
    model = MultiTaskRecommender(tasks, **{"random_state": 0, **model_params})
    return Pipeline([("features", features), ("model", model)])


def cold_item_split(ratings: pd.DataFrame, share: float = 0.2, seed: int = 0):
    """Protocol R3: every rating of a random ``share`` of the items is test."""
    items = np.sort(ratings["item_id"].unique())
    cold = np.random.RandomState(seed).choice(items, int(share * len(items)), replace=False)
    is_cold = ratings["item_id"].isin(cold)
    return ratings[~is_cold], ratings[is_cold]


def rating_rmse(model, X, y) -> float:
    return -make_task_scorer("rating", "rmse", clip=(1, 5))(model, X, y)


def main() -> dict[str, float]:
    data = load_movielens_100k(fold=1)
    results = {}
    for name, (train, test) in {
        "u1 (warm items)": (data.train, data.test),
        "R3 cold items (seed 0)": cold_item_split(data.ratings),
    }.items():
        for text in (False, True):
            X_train, y_train = movielens_xy(train, text=text)
            X_test, y_test = movielens_xy(test, text=text)
            model = make_text_pipeline() if text else MultiTaskRecommender(TASKS, random_state=0)
            model.fit(X_train, y_train)
            key = f"{name}, {'with' if text else 'without'} titles"
            results[key] = rating_rmse(model, X_test, y_test)
            print(f"{key:<45} RMSE {results[key]:.4f}")

    # A movie that is not in the catalog, served from its title and genres.
    X_train, y_train = movielens_xy(data.train)
    model = make_text_pipeline().fit(X_train, y_train)
    new = X_train.head(1).assign(item_id=100_000, title="Star Trek: Generations (1994)")
    print("\nA new movie for user", new["user_id"].iloc[0], "->", model.predict(new)[0])

    # Tuning the Pipeline: each title is encoded once for every candidate and fold.
    search = GridSearchCV(
        make_text_pipeline(max_epochs=5),
        {"model__content_components": [8, 32], "model__embedding_dim": [32, 64]},
        scoring=make_task_scorer("rating", "rmse", clip=(1, 5)),
        cv=KFold(3, shuffle=True, random_state=0),
    )
    search.fit(*movielens_xy(data.train.sample(20_000, random_state=0)))
    print("Best of the grid:", search.best_params_, f"RMSE {-search.best_score_:.4f}")
    return results


if __name__ == "__main__":
    main()
