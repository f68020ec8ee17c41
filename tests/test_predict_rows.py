"""Predict scores rows from their distinct users' and items' vectors: the same outputs as the
network's forward on every row, whatever rows share."""

import numpy as np
import pandas as pd
import pytest

from skmtrec import MultiTaskRecommender
from skmtrec._prepare.features import _Codebook
from skmtrec._serving import rows as predict_rows
from skmtrec._serving.rows import distinct_rows


def test_rows_share_a_vector_only_with_the_same_code_and_side_values():
    codes = np.array([3, 3, 0, 0, 3, 5, 5, 3, 7, 7])
    values = np.array([[1, 2]] * 8 + [[1, 2], [1, 3]])
    owners = np.array([3, 3, 0, 0, 3, 5, 8, 3, 7, 7])
    representatives, inverse = distinct_rows(codes, [*values.T, owners])
    groups = {}
    for row, position in enumerate(inverse):
        groups.setdefault(position, []).append(row)
    # rows of one code that agree share (code 0, new to fit, too); an owner or values that
    # differ split them
    assert sorted(groups.values()) == [[0, 1, 4, 7], [2, 3], [5], [6], [8], [9]]
    np.testing.assert_array_equal(codes[representatives][inverse], codes)
    np.testing.assert_array_equal(values[representatives][inverse], values)
    np.testing.assert_array_equal(owners[representatives][inverse], owners)


@pytest.fixture(scope="module")
def rows():
    """Interactions with item features, per-row (interaction) features, a user whose side
    feature differs between rows, and users and items new to fit."""
    from skmtrec.datasets import make_interactions

    X, y = make_interactions(n_users=120, n_items=60, n_interactions=3000, random_state=0)
    rng = np.random.default_rng(0)
    X = X.drop(columns="item_text").assign(
        genre=(X["item_id"] % 5).astype(str),
        price=X["item_id"] * 0.5,
        hour=rng.integers(0, 24, len(X)).astype(float),
        device=rng.choice(["phone", "web"], len(X)),
    )
    served = X.sample(400, random_state=1).reset_index(drop=True)
    served.loc[:9, "user_id"] = -1  # one user new to fit, ten rows with their own features
    served.loc[10:19, "item_id"] = -2
    older = served.iloc[20:25].assign(user_age=lambda rows: rows["user_age"] + 7)
    return X, y, pd.concat([served, older], ignore_index=True)


@pytest.mark.parametrize(
    ("architecture", "ranking_loss"),
    [("mmoe", "bce"), ("ple", "bce"), ("shared_bottom", "bce"), ("mmoe", "softmax")],
)
def test_predict_gives_the_forward_of_every_row(rows, architecture, ranking_loss, monkeypatch):
    X, y, served = rows
    tasks = {"rating": "regression", "like": "binary", "category": "multiclass"}
    if ranking_loss == "softmax":  # a task scored by the dot product, beside the head's
        tasks["interacted"] = "implicit"
    model = MultiTaskRecommender(
        tasks, architecture=architecture, ranking_loss=ranking_loss, max_epochs=2, random_state=0
    ).fit(X, y)
    module = model.net_.module_
    assert module.inputs.n_shared > 0  # hour and device reach the head, row by row
    with module.pooled_histories():  # the batched forward, as predict ran before
        expected = model.net_.forward(model.model_.encoder.transform(served))
    # as it runs, then in chunks of 37 rows and batches of 5: every boundary crossed
    for patch in ({}, {"_CHUNK_BOUNDS": (37, 37), "_ROWS_PER_BATCH": 5}):
        for name, value in patch.items():
            monkeypatch.setattr(predict_rows, name, value)
        for got, want in zip(
            model.model_.network_outputs(served)[1].values(), expected, strict=True
        ):
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)


def test_rows_giving_histories_are_each_served_their_own(rows):
    X, y, _ = rows
    model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0).fit(
        X, y[["rating"]]
    )
    items = X["item_id"].unique()
    # a user of fit, and one new to it, each with and without histories given
    served = X.head(1).loc[[X.index[0]] * 8].reset_index(drop=True)
    served.loc[4:, "user_id"] = -1
    served["history"] = [list(items[:5]), None, list(items[5:15]), list(items[:5])] * 2
    together = model.predict_tasks(served)["rating"].to_numpy()
    alone = [model.predict_tasks(served.iloc[[r]])["rating"].iloc[0] for r in range(8)]
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    assert len(np.unique(together.round(5))) == 6  # rows 0 and 3 (4 and 7) give one history


@pytest.mark.parametrize("dtype", ["object", "str", "category"])
def test_a_string_column_is_coded_as_matching_each_row(dtype):
    """Strings are coded from their distinct values (faster), as matching each row would."""
    fitted = pd.Series(["b", "a", None, "c"], dtype=dtype)
    codes = _Codebook.fit(fitted, "genre")
    served = pd.Series(["c", None, "a", "new", "a", np.nan, "b"], dtype=dtype)
    expected = codes.values.get_indexer(served) + 1  # every row matched; unseen and missing 0
    np.testing.assert_array_equal(codes.transform(served), expected)
    assert expected.tolist() == [3, 0, 2, 0, 2, 0, 1]


@pytest.mark.parametrize(
    "fitted", [[True, False], [False, True], [True], [False]], ids=["tf", "ft", "t", "f"]
)
def test_a_bool_column_is_coded_as_matching_each_row(fitted):
    """Bools are coded by looking up their two values, as matching each row would: a value
    unseen in fit is 0."""
    codes = _Codebook.fit(pd.Series(fitted), "flag")
    served = pd.Series([True, False, False, True, True])
    expected = codes.values.get_indexer(served) + 1
    np.testing.assert_array_equal(codes.transform(served), expected)
    assert (expected == 0).any() == (len(fitted) == 1)
