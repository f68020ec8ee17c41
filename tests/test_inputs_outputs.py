"""Inputs and outputs as implicit, LightFM and dataframe users hold them: a user x item sparse
matrix, polars frames, ``recommend(as_arrays=True)`` and the learned vectors."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from skmtrec import MultiTaskRecommender
from skmtrec._prepare.features import as_pandas
from skmtrec._serving.ranking import ranked_arrays
from skmtrec.exceptions import ShortListWarning

from .conftest import dataset, fitted_model

pl = pytest.importorskip("polars")

TINY = dict(data="tiny", max_epochs=2, random_state=0)


def checkerboard(n: int) -> sp.csr_matrix:
    """Even users liked every even item, odd users every odd item, each user's own index (the
    diagonal) withheld: every other user of its parity liked it, so it must come first."""
    liked = (np.add.outer(np.arange(n), np.arange(n)) % 2 == 0).astype(float)
    np.fill_diagonal(liked, 0)
    return sp.csr_matrix(liked)


def rated_matrix() -> sp.csr_matrix:
    """Ratings of 12 users for 9 items; user 4's row is empty and one entry an explicit 0."""
    rng = np.random.default_rng(0)
    ratings = np.where(rng.random((12, 9)) < 0.5, rng.integers(1, 6, (12, 9)), 0).astype(float)
    ratings[4] = 0
    ratings[0, :2] = [5.0, 3.0]
    matrix = sp.csr_matrix(ratings)
    matrix.data[matrix.indices == 1] *= 0  # stored, but an explicit zero: no interaction
    return matrix


# -- a sparse user x item matrix ---------------------------------------------------------------


def test_sparse_checkerboard_recommends_each_users_withheld_item():
    n = 16
    model = MultiTaskRecommender(
        {"clicked": "implicit"},
        batch_size=16, lr=0.01, max_epochs=8, validation_fraction=0, random_state=0,
    ).fit(checkerboard(n))  # fmt: skip
    ids, _ = model.recommend(np.arange(n), k=3, as_arrays=True)
    np.testing.assert_array_equal(ids[:, 0], np.arange(n))
    assert model.user_ids_.tolist() == list(range(n))
    assert model.feature_names_in_.tolist() == ["user_id", "item_id"]


def test_sparse_matrix_fit_equals_fit_on_its_long_table():
    """The values are the regression task's labels; explicit zeros and empty rows are no
    interactions, and the rows are read by user, then item."""
    matrix = rated_matrix()
    tasks = {"rating": "regression", "interacted": "implicit"}
    params = dict(max_epochs=2, batch_size=16, random_state=0)
    from_matrix = MultiTaskRecommender(tasks, **params).fit(matrix)
    dense = matrix.toarray()
    users, items = np.nonzero(dense)
    X = pd.DataFrame({"user_id": users, "item_id": items})
    y = pd.DataFrame({"rating": dense[users, items]})
    from_table = MultiTaskRecommender(tasks, **params).fit(X, y)

    assert 4 not in from_matrix.user_ids_ and 1 not in from_matrix.item_ids_
    pd.testing.assert_index_equal(from_matrix.user_ids_, from_table.user_ids_)
    pd.testing.assert_index_equal(from_matrix.item_ids_, from_table.item_ids_)
    pd.testing.assert_frame_equal(from_matrix.predict_tasks(X), from_table.predict_tasks(X))


def test_sparse_matrix_binary_values_are_the_labels():
    matrix = sp.csr_matrix(np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, 1.0]]))
    model = MultiTaskRecommender({"like": "binary"}, max_epochs=1, validation_fraction=0)
    model.fit(matrix)
    assert model.classes_["like"].tolist() == [-1.0, 1.0]


@pytest.mark.parametrize(
    "matrix",
    [
        sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])),
        # zeros stored explicitly are no entries either, not negatives
        sp.csr_matrix(([1.0, 0.0, 1.0, 0.0], ([0, 0, 1, 2], [0, 1, 2, 2])), shape=(3, 3)),
    ],
)
def test_sparse_matrix_of_zeros_and_ones_is_refused_for_a_binary_task(matrix):
    """A 0/1 matrix holds its ones only: the binary task would have one class, so fit says
    why, and how to store the negatives, before the task does."""
    model = MultiTaskRecommender({"like": "binary"}, max_epochs=1)
    with pytest.raises(ValueError, match=r"zeros are absent entries.*e\.g\. -1 for no and 1"):
        model.fit(matrix)
    assert not hasattr(model, "classes_")


def test_sparse_matrix_ids_are_in_order_of_first_appearance():
    """Users come in increasing order (entries are read by user, then item), items as they
    first appear; an empty column is no item and is never recommended."""
    matrix = sp.csr_matrix(
        np.array([[0, 0, 1, 0, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 0, 1, 0, 1]], float)
    )
    model = MultiTaskRecommender({"clicked": "implicit"}, max_epochs=1, validation_fraction=0)
    model.fit(matrix)
    assert model.user_ids_.tolist() == [0, 1, 3]
    assert model.item_ids_.tolist() == [2, 4, 0]
    assert model.item_vectors_.shape[0] == 3
    ids, _ = model.recommend([0, 1, 3], k=5, exclude_seen=False, as_arrays=True)
    assert set(ids[ids >= 0].tolist()) == {0, 2, 4}


@pytest.mark.parametrize(
    ("tasks", "y", "match"),
    [
        ({"genre": "multiclass", "clicked": "implicit"}, None, "Task 'genre' is multiclass"),
        ({"rating": "regression", "like": "binary"}, None, r"one task, but `tasks` names"),
        ({"clicked": "implicit"}, np.ones(3), "y must be None"),
        (None, None, "needs `tasks`"),
    ],
)
def test_sparse_matrix_refuses_tasks_it_cannot_hold(tasks, y, match):
    matrix = sp.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match=match):
        MultiTaskRecommender(tasks, max_epochs=1).fit(matrix, y)


def test_sparse_matrix_refuses_missing_id_columns_and_empty_matrix():
    with pytest.raises(ValueError, match="needs both id columns"):
        MultiTaskRecommender({"clicked": "implicit"}, user_col=None).fit(sp.csr_matrix(np.eye(2)))
    with pytest.raises(ValueError, match="no nonzero entry"):
        MultiTaskRecommender({"clicked": "implicit"}).fit(sp.csr_matrix((3, 4)))


def test_sparse_matrix_positions_as_id_columns():
    model = MultiTaskRecommender(
        {"clicked": "implicit"}, user_col=1, item_col=0, max_epochs=1, validation_fraction=0
    )
    model.fit(sp.csr_matrix(np.eye(4)), None)
    assert model.user_col_ == 1 and model.item_col_ == 0
    assert model.predict(np.array([[2, 3], [0, 1]])).shape == (2,)


def test_predict_refuses_a_sparse_matrix():
    model = fitted_model(tasks={"clicked": "implicit"}, **TINY)
    with pytest.raises(TypeError, match="sparse X is read by fit only"):
        model.predict(sp.csr_matrix(np.eye(3)))


# -- polars and other dataframe libraries ------------------------------------------------------


def test_as_pandas_keeps_column_names_and_dtypes():
    frame = pl.DataFrame(
        {
            "user": [3, 1],
            "genre": pl.Series(["drama", "comedy"], dtype=pl.Categorical),
            "liked": [True, False],
            "name": ["a", None],
        }
    )
    converted = as_pandas(frame)
    assert converted.columns.tolist() == ["user", "genre", "liked", "name"]
    assert isinstance(converted["genre"].dtype, pd.CategoricalDtype)
    assert converted["liked"].dtype == bool
    assert converted["name"].isna().tolist() == [False, True]
    assert as_pandas(pl.Series("user", [1, 2])).name == "user"
    array = np.zeros((2, 2))
    assert as_pandas(array) is array


def test_polars_fit_predicts_as_the_pandas_fit():
    X, y = dataset("tiny")
    X = X.assign(weekend=X["user_age"] % 2 == 0)
    tasks = {"rating": "regression", "like": "binary", "clicked": "implicit"}
    params = dict(max_epochs=2, random_state=0)
    y = y[["rating", "like"]]
    from_pandas = MultiTaskRecommender(tasks, **params).fit(X, y)
    X_pl, y_pl = pl.from_pandas(X), pl.from_pandas(y)
    from_polars = MultiTaskRecommender(tasks, **params).fit(X_pl, y_pl)

    assert from_polars.feature_names_in_.tolist() == X.columns.tolist()
    expected = from_pandas.predict_tasks(X)
    pd.testing.assert_frame_equal(from_polars.predict_tasks(X_pl), expected)
    pd.testing.assert_frame_equal(from_pandas.predict_tasks(X_pl), expected)
    np.testing.assert_array_equal(
        from_polars.predict_proba(X_pl, task="like"), from_pandas.predict_proba(X, task="like")
    )
    pd.testing.assert_frame_equal(from_polars.explain(X_pl.head(5)), from_pandas.explain(X[:5]))
    assert from_polars.score(X_pl, y_pl) == pytest.approx(from_pandas.score(X, y))

    users = X[["user_id", "user_age", "user_segment"]].drop_duplicates("user_id").head(4)
    pd.testing.assert_frame_equal(
        from_polars.recommend(pl.from_pandas(users), k=3),
        from_pandas.recommend(users, k=3),
    )


def test_polars_lazy_frame_is_refused_with_the_fix():
    X, y = dataset("tiny")
    with pytest.raises(TypeError, match=r"lazy polars frame; collect it first"):
        MultiTaskRecommender({"rating": "regression"}).fit(pl.from_pandas(X).lazy(), y["rating"])


# -- recommend(as_arrays=True) -----------------------------------------------------------------


def test_recommend_as_arrays_holds_the_long_frame_row_by_row():
    model = fitted_model(tasks={"clicked": "implicit"}, **TINY)
    users = [model.user_ids_[3], model.user_ids_[0], model.user_ids_[7]]
    ids, scores = model.recommend(users, k=5, as_arrays=True)
    frame = model.recommend(users, k=5)

    assert ids.shape == scores.shape == (3, 5)
    assert ids.dtype == model.item_ids_.dtype
    for row, user in enumerate(users):
        mine = frame[frame["user_id"] == user].sort_values("rank")
        np.testing.assert_array_equal(ids[row, : len(mine)], mine["item_id"])
        np.testing.assert_array_equal(scores[row, : len(mine)], mine["score"])


def test_recommend_as_arrays_pads_a_short_list():
    model = fitted_model(tasks={"clicked": "implicit"}, **TINY)
    items = pd.DataFrame({"item_id": model.item_ids_[:3]})
    with pytest.warns(ShortListWarning, match="fewer than k"):
        ids, scores = model.recommend(model.user_ids_[:2], k=5, items=items, as_arrays=True)
    assert ids.shape == (2, 5)
    np.testing.assert_array_equal(ids[:, 3:], -1)
    assert np.isneginf(scores[:, 3:]).all() and np.isfinite(scores[~np.isneginf(scores)]).all()
    assert set(ids[ids >= 0]) <= set(model.item_ids_[:3])


def test_ranked_arrays_pads_ids_by_their_type():
    positions, scores = np.array([[1, 0]]), np.array([[0.5, -np.inf]], dtype=np.float32)
    ids, padded = ranked_arrays(np.array(["a", "b"], dtype=object), positions, scores, 3)
    assert ids.tolist() == [["b", None, None]]
    assert padded.tolist() == [[0.5, -np.inf, -np.inf]]
    ids, _ = ranked_arrays(np.array([1.5, 2.5]), positions, scores, 2)
    assert ids[0, 0] == 2.5 and np.isnan(ids[0, 1])


def test_recommend_as_arrays_refuses_explain():
    model = fitted_model(tasks={"clicked": "implicit"}, **TINY)
    with pytest.raises(ValueError, match=r"as_arrays=True\) gives ids and scores only"):
        model.recommend(model.user_ids_[:1], as_arrays=True, explain=True)


# -- the learned vectors -----------------------------------------------------------------------


def nearest_by_cosine(vectors: np.ndarray, rows, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the k vectors closest to each of ``rows`` by cosine, and the cosines."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit[rows] @ unit.T
    similarity[np.arange(len(rows)), rows] = -np.inf  # the query itself
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return nearest, np.take_along_axis(similarity, nearest, axis=1)


@pytest.mark.parametrize("ranking_loss", ["bce", "softmax"])
def test_vectors_reproduce_similar_items_and_users(ranking_loss):
    model = fitted_model(tasks={"clicked": "implicit"}, ranking_loss=ranking_loss, **TINY)
    rows = [0, 4, 9]
    for role, ids, vectors, similar in (
        ("item", model.item_ids_, model.item_vectors_, model.similar_items),
        ("user", model.user_ids_, model.user_vectors_, model.similar_users),
    ):
        assert vectors.shape[0] == len(ids) and vectors.dtype == np.float32
        frame = similar(ids[rows], k=4)
        nearest, cosines = nearest_by_cosine(vectors, rows, 4)
        found = frame[f"similar_{role}_id"].to_numpy().reshape(3, 4)
        np.testing.assert_array_equal(found, ids.to_numpy()[nearest])
        np.testing.assert_allclose(frame["similarity"].to_numpy().reshape(3, 4), cosines, atol=1e-5)


def test_vectors_survive_pickling_and_need_a_fit():
    model = fitted_model(tasks={"clicked": "implicit"}, **TINY)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.item_vectors_, model.item_vectors_)
    with pytest.raises(NotFittedError):
        MultiTaskRecommender().user_vectors_  # noqa: B018
    assert not hasattr(MultiTaskRecommender(), "item_vectors_")


def test_similar_users_serves_unseen_ids_as_similar_items_does():
    model = fitted_model(tasks={"clicked": "implicit"}, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unseen-id warning, tested on its own
        users, items = model.similar_users([99999], k=3), model.similar_items([99999], k=3)
    for frame, role, known in ((users, "user", model.user_ids_), (items, "item", model.item_ids_)):
        assert frame[f"{role}_id"].tolist() == [99999] * 3
        assert frame["rank"].tolist() == [1, 2, 3]
        assert frame[f"similar_{role}_id"].isin(known).all()
