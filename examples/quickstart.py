"""Quick start: one model learns four tasks at once, and reads the item texts through a
language model (SentenceEmbedder), on synthetic interactions.

It prints each task's test metric with and without the texts, a few users' recommendations
named by their text with the history item behind each, and whom a brand-new item, known only by
its text, would be recommended to. Offline (all-MiniLM-L6-v2 from the `text` extra), about a
minute on 2 CPU cores:

    python examples/quickstart.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.metrics import accuracy_score, roc_auc_score, root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from skmtrec import MultiTaskRecommender, SentenceEmbedder
from skmtrec.datasets import make_interactions
from skmtrec.metrics import make_ranking_scorer

TASKS = {
    "rating": "regression",  # 1..5
    "like": "binary",  # rating >= 4; 30% of the labels missing
    "category": "multiclass",  # the genre a user files the item under; 50% missing
    "interacted": "implicit",  # every row is a positive; negatives are sampled
}


def with_text() -> Pipeline:
    """The item text through SentenceEmbedder, every other column passed on, then the model."""
    features = ColumnTransformer(
        [("text", SentenceEmbedder(), ["item_text"])],
        remainder="passthrough",
        verbose_feature_names_out=False,  # keep user_id and item_id as they are named
    ).set_output(transform="pandas")
    return Pipeline(
        [("features", features), ("model", MultiTaskRecommender(TASKS, random_state=0))]
    )


def test_metrics(model, X, y) -> dict[str, float]:
    """Each task's metric on the rows where its label is present."""
    predicted = model.predict(X)
    like, category = y["like"].notna().to_numpy(), y["category"].notna().to_numpy()
    return {
        "rating RMSE": root_mean_squared_error(y["rating"], np.clip(predicted[:, 0], 1, 5)),
        "like ROC AUC": roc_auc_score(
            y["like"][like], model.predict_proba(X, task="like")[like, 1]
        ),
        "category accuracy": accuracy_score(y["category"][category], predicted[category, 2]),
        "interacted NDCG@10": make_ranking_scorer("ndcg", 10)(model, X),
    }


def main() -> dict[str, dict[str, float]]:
    start = time.perf_counter()
    X, y = make_interactions(n_users=800, n_items=400, n_interactions=30_000, random_state=0)
    texts = X.drop_duplicates("item_id").set_index("item_id")["item_text"]
    # new items: every interaction with 10% of the items is kept out of fit
    rng = np.random.RandomState(0)
    new_items = rng.choice(np.sort(X["item_id"].unique()), 40, replace=False)
    is_new = X["item_id"].isin(new_items).to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(
        X[~is_new], y[~is_new], test_size=0.2, random_state=0
    )

    models = {
        "with text": with_text().fit(X_train, y_train),
        "without": MultiTaskRecommender(TASKS, random_state=0).fit(
            X_train.drop(columns="item_text"), y_train
        ),
    }
    metrics = {}
    for name, model in models.items():
        drop = [] if name == "with text" else ["item_text"]
        known = test_metrics(model, X_test.drop(columns=drop), y_test)
        new = test_metrics(model, X[is_new].drop(columns=drop), y[is_new])
        metrics[name] = {
            **known,
            "rating RMSE, new items": new["rating RMSE"],
            "category acc., new items": new["category accuracy"],
        }
    print(f"Four tasks, one model, {len(X_train)} interactions; test metrics:\n")
    print(f"  {'':<26} {'with text':>10} {'without':>10}")
    for name in metrics["with text"]:
        print(f"  {name:<26} {metrics['with text'][name]:>10.3f} {metrics['without'][name]:>10.3f}")
    print(
        f"  (rating RMSE of the global mean: {y_test['rating'].std():.3f}; best category "
        "accuracy possible: about 0.52)\n"
    )

    model = models["with text"]["model"]
    users = X_train["user_id"].value_counts().index[:3]
    top = model.recommend(users, k=3, explain=True)
    print("Top 3 for three users, and the item of their history behind each:")
    for user, rows in top.groupby("user_id", sort=False):
        print(f"  user {user}")
        for row in rows.itertuples():
            print(f"    {texts[row.item_id]!r:<60} because of {texts[row.because]!r}")

    # whom a new item goes to: every known user paired with it, scored by the pipeline
    new_item = X.loc[is_new, "item_id"].value_counts().index[0]
    people = X_train.drop_duplicates("user_id")[["user_id", "user_age", "user_segment"]]
    pairs = people.assign(item_id=new_item, item_text=texts[new_item])[X.columns]
    chance = models["with text"].predict_proba(pairs, task="interacted")[:, 1]
    categories = pd.Series(models["with text"].predict(pairs)[:, 2])
    filed = y.loc[(X["item_id"] == new_item).to_numpy(), "category"].value_counts(normalize=True)
    print(f"\nA new item known only by its text: {texts[new_item]!r}")
    print(
        f"  predicted category: {categories.mode()[0]} (its held-out rows: "
        f"{', '.join(f'{c} {share:.0%}' for c, share in filed.head(2).items())})"
    )
    best = people["user_id"].to_numpy()[np.argsort(-chance)[:5]]
    print(f"  recommended to users {', '.join(map(str, best))}")

    print(f"\nTook {time.perf_counter() - start:.0f} s.")
    return metrics


if __name__ == "__main__":
    main()
