"""Quick start: fit one multi-task model on synthetic interactions, score it, recommend.

Runs offline in about half a minute on 2 CPU cores:

    python examples/quickstart.py
"""

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score, root_mean_squared_error
from sklearn.model_selection import train_test_split

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions

TASKS = {
    "rating": "regression",
    "like": "binary",
    "category": "multiclass",
    "interacted": "implicit",  # every row is a positive; negatives are sampled
}


def main() -> dict[str, float]:
    X, y = make_interactions(n_users=1000, n_items=500, n_interactions=50_000, random_state=0)
    X = X.drop(columns="item_text")  # text features come with SentenceEmbedder
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

    model = MultiTaskRecommender(tasks=TASKS, random_state=0).fit(X_train, y_train)
    print(f"Trained {len(model.net_.history)} epochs on {len(X_train)} interactions.\n")

    pred = model.predict_tasks(X_test)
    like = y_test["like"].notna().to_numpy()
    category = y_test["category"].notna().to_numpy()
    metrics = {
        "rating RMSE": root_mean_squared_error(y_test["rating"], np.clip(pred["rating"], 1, 5)),
        "like ROC AUC": roc_auc_score(
            y_test["like"][like], model.predict_proba(X_test, task="like")[like, 1]
        ),
        "category accuracy": accuracy_score(
            y_test["category"][category], pred["category"][category]
        ),
    }
    baseline = root_mean_squared_error(
        y_test["rating"], np.full(len(y_test), y_train["rating"].mean())
    )
    print("Test metrics per task")
    for name, value in metrics.items():
        print(f"  {name:<18} {value:.3f}")
    print(f"  (rating RMSE of the global mean: {baseline:.3f})\n")

    # Top recommendations: the implicit task ranks every item a user has not interacted with.
    for user in X_train["user_id"].value_counts().index[:3]:
        top = model.recommend([user], k=5)
        listing = ", ".join(f"item {r.item_id} ({r.score:.2f})" for r in top.itertuples())
        print(f"User {user}: {listing}")
    return metrics


if __name__ == "__main__":
    main()
