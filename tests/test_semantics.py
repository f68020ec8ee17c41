"""What predict, predict_proba and score mean for each task kind (issue 39, "Semantics")."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_score

from skmtrec import MultiTaskRecommender
from skmtrec.metrics import make_ranking_scorer

from .conftest import dataset, fitted_model

N = 20


def checkerboard(max_epochs: int, **params):
    """Users and items of two parities, each user with every item of its parity but its own
    (the held-out rows: the right answer), and a model fitted on the rest."""
    rows = [(u, i) for u in range(N) for i in range(N) if u % 2 == i % 2 and u != i]
    X = pd.DataFrame(rows, columns=["user_id", "item_id"])
    model = MultiTaskRecommender(
        {"interacted": "implicit"},
        max_epochs=max_epochs,
        batch_size=32,
        patience=None,
        random_state=0,
        **params,
    )
    held_out = pd.DataFrame({"user_id": np.arange(N), "item_id": np.arange(N)})
    return X, held_out, model.fit(X)


def test_an_implicit_task_predicts_its_score_not_a_label():
    """Non-regression test: an implicit task predicted 0/1 labels, which say nothing where
    every observed row is a positive; it now predicts the probability of an interaction."""
    X, _ = dataset("tiny")
    model = fitted_model("tiny", tasks={"rating": "regression", "clicked": "implicit"},
                         max_epochs=2, random_state=0)  # fmt: skip
    predictions = model.predict_tasks(X)
    clicked = predictions["clicked"].to_numpy()
    assert clicked.dtype == np.float64
    assert ((clicked > 0) & (clicked < 1)).all()
    assert len(np.unique(clicked)) > 2
    np.testing.assert_allclose(clicked, model.predict_proba(X, task="clicked")[:, 1])
    np.testing.assert_allclose(model.predict(X)[:, 1], clicked)


def test_predict_proba_without_task_refuses_several_classification_tasks():
    X, _ = dataset("tiny")
    tasks = {"rating": "regression", "like": "binary", "clicked": "implicit"}
    model = fitted_model("tiny", tasks=tasks, max_epochs=1, random_state=0)
    with pytest.raises(
        ValueError, match=r"2 classification tasks \['like', 'clicked'\].*task='like'"
    ):
        model.predict_proba(X)
    assert model.predict_proba(X, task="like").shape == (len(X), 2)


def test_predict_proba_without_task_gives_the_only_classification_task():
    """An implicit task counts as a classification task (classes 0 and 1)."""
    X, _ = dataset("tiny")
    model = fitted_model("tiny", tasks={"rating": "regression", "clicked": "implicit"},
                         max_epochs=1, random_state=0)  # fmt: skip
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_array_equal(proba, model.predict_proba(X, task="clicked"))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_score_averages_r2_with_the_ranking_scorers_ndcg_at_10():
    X, y = dataset("small")
    train, test = np.arange(1200), np.arange(1200, len(X))
    model = MultiTaskRecommender(
        {"rating": "regression", "clicked": "implicit"}, max_epochs=2, random_state=0
    ).fit(X.iloc[train], y[["rating"]].iloc[train])
    X_test, y_test = X.iloc[test], y[["rating"]].iloc[test]
    r2 = r2_score(y_test["rating"], model.predict_tasks(X_test)["rating"])
    scorer = make_ranking_scorer("ndcg", 10, relevance=("clicked", 1), task="clicked")
    ndcg = scorer(model, X_test, y_test)
    assert 0 < ndcg < 1
    assert model.score(X_test, y_test) == pytest.approx((r2 + ndcg) / 2)


def test_score_ranks_an_implicit_task_higher_once_trained():
    """A model with only an implicit task has a score (it had none: nothing to score), the
    NDCG@10 of the withheld items, which training takes to the known answer."""
    _, held_out, barely = checkerboard(max_epochs=1)
    _, _, trained = checkerboard(max_epochs=8, lr=1e-2)
    assert trained.score(held_out) > 0.95  # each user's withheld item ranks first
    assert barely.score(held_out) < 0.8
    scorer = make_ranking_scorer("ndcg", 10, relevance=("interacted", 1), task="interacted")
    assert trained.score(held_out) == pytest.approx(scorer(trained, held_out))


def test_score_reads_x_as_held_out_so_the_rows_of_fit_rank_at_zero():
    X, _, model = checkerboard(max_epochs=1)
    assert model.score(X) == 0.0  # every item of X is seen in fit, so never recommended


def test_score_leaves_out_rows_labelled_zero_of_an_implicit_task():
    """A known negative (label 0) is not a relevant item; a row without a label neither."""
    _, held_out, model = checkerboard(max_epochs=1)
    labels = pd.DataFrame({"interacted": [1.0] * 10 + [0.0] * 5 + [np.nan] * 5})
    assert model.score(held_out, labels) == pytest.approx(model.score(held_out.head(10)))


def test_cross_validation_scores_an_implicit_only_model_by_default():
    X, _ = dataset("tiny")
    model = MultiTaskRecommender({"clicked": "implicit"}, max_epochs=1, random_state=0)
    scores = cross_val_score(model, X[["user_id", "item_id"]], cv=KFold(2))
    assert ((scores > 0) & (scores < 1)).all()
