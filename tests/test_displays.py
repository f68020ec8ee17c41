"""The displays of skmtrec.inspection draw what the model gives: explanations, ranking
metrics at k, a user's recommendations beside their history; and name_items."""

import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions
from skmtrec.inspection import (
    ExplanationDisplay,
    MetricsAtKDisplay,
    RecommendationsDisplay,
    name_items,
)
from skmtrec.metrics import make_ranking_scorer
from skmtrec.model_selection import UserHoldout

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    X, y = make_interactions(n_users=60, n_items=40, n_interactions=1200, random_state=0)
    X, y = X[["user_id", "item_id", "user_age"]], y[["rating", "like"]]
    train, test = next(UserHoldout(0.2, random_state=0).split(X))
    return X.iloc[train], y.iloc[train], X.iloc[test], y.iloc[test]


@pytest.fixture(scope="module")
def model(data):
    X, y, _, _ = data
    tasks = {"rating": "regression", "like": "binary"}
    return MultiTaskRecommender(tasks, max_epochs=2, random_state=0).fit(X, y)


def in_decades(X):
    """X with the users' ages in decades: a step whose output the recommender must read."""
    return X.assign(user_age=X["user_age"] / 10)


@pytest.fixture(scope="module")
def pipeline(data, model):
    X, y, _, _ = data
    steps = [("decades", FunctionTransformer(in_decades)), ("model", clone(model))]
    return Pipeline([("features", Pipeline(steps[:1])), ("inner", Pipeline(steps[1:]))]).fit(X, y)


# -- ExplanationDisplay ----------------------------------------------------------------------


def test_each_row_draws_its_largest_groups_and_sums_the_rest():
    contributions = pd.DataFrame(
        {"a": [0.1, -2.0], "b": [-0.5, 0.2], "c": [0.05, 0.1], "d": [0.3, 0.0], "e": [0.0, 1.0]},
        index=["r1", "r2"],
    )
    display = ExplanationDisplay.from_explanation(
        contributions, predictions=[3.5, 4.25], task="rating", rows=[0, 1], max_groups=2
    )
    assert len(display.ax_) == 2
    assert display.groups_ == [["b", "d", "other (3 groups)"], ["a", "e", "other (3 groups)"]]
    np.testing.assert_allclose(display.bars_[0].datavalues, [-0.5, 0.3, 0.15])
    np.testing.assert_allclose(display.bars_[1].datavalues, [-2.0, 1.0, 0.3])
    ticks = [t.get_text() for t in display.ax_[1].get_yticklabels()]
    assert ticks == ["a", "e", "other (3 groups)"]
    # raising bars red, lowering ones blue
    colors = [matplotlib.colors.to_hex(bar.get_facecolor()) for bar in display.bars_[1]]
    assert colors == [matplotlib.colors.to_hex(c) for c in ("tab:blue", "tab:red", "tab:red")]
    assert display.ax_[0].get_title() == "row r1: rating prediction 3.5"
    assert display.ax_[1].get_title() == "row r2: rating prediction 4.25"


def test_no_other_bar_when_every_group_is_drawn():
    contributions = pd.DataFrame({"a": [0.1], "b": [-0.5]})
    display = ExplanationDisplay.from_explanation(contributions, max_groups=10)
    assert display.groups_ == [["b", "a"]]
    assert display.ax_[0].get_title() == "row 0"


def test_explanation_from_estimator_explains_the_chosen_rows(data, model):
    X = data[0]
    display = ExplanationDisplay.from_estimator(model, X, rows=[2, 5], max_groups=3)
    expected = model.explain(X.iloc[[2, 5]])
    pd.testing.assert_frame_equal(display.contributions, expected)
    assert all(len(bars) == 4 for bars in display.bars_)  # 6 groups: 3 and "other"
    predicted = model.predict_tasks(X.iloc[[2, 5]])["rating"].to_numpy()
    np.testing.assert_allclose(display.predictions, predicted)
    assert display.ax_[1].get_title() == f"row {X.index[5]}: rating prediction {predicted[1]:.4g}"
    # a binary task's explanation is of its probability
    display = ExplanationDisplay.from_estimator(model, X, task="like", rows=0)
    np.testing.assert_allclose(
        display.predictions, model.predict_proba(X.iloc[[0]], task="like")[:, 1]
    )


def test_a_pipeline_explains_the_rows_through_its_transforms(data, pipeline):
    X = data[0]
    display = ExplanationDisplay.from_estimator(pipeline, X, task="like", rows=[1, 3])
    recommender, rows = pipeline[-1][-1], in_decades(X.iloc[[1, 3]])
    pd.testing.assert_frame_equal(display.contributions, recommender.explain(rows, task="like"))
    np.testing.assert_allclose(
        display.predictions, recommender.predict_proba(rows, task="like")[:, 1]
    )
    assert display.ax_[0].get_title().startswith(f"row {X.index[1]}: like prediction")


def test_explanation_display_refuses_bad_rows_groups_and_axes(data, model):
    X = data[0]
    with pytest.raises(ValueError, match="rows must be a position"):
        ExplanationDisplay.from_estimator(model, X, rows=len(X))
    with pytest.raises(ValueError, match="rows must be a position"):
        ExplanationDisplay.from_estimator(model, X, rows=[])
    with pytest.raises(ValueError, match="max_groups must be a positive int"):
        ExplanationDisplay.from_estimator(model, X, max_groups=0)
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="`ax` must hold 2 Axes"):
        ExplanationDisplay.from_estimator(model, X, rows=[0, 1], ax=ax)
    with pytest.raises(ValueError, match="`predictions` has 1 values for 2 rows"):
        ExplanationDisplay.from_explanation(pd.DataFrame({"a": [1.0, 2.0]}), predictions=[1.0])


def test_a_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"ExplanationDisplay needs matplotlib.*skmtrec\[plot\]"):
        ExplanationDisplay.from_explanation(pd.DataFrame({"a": [1.0]}))


# -- MetricsAtKDisplay -----------------------------------------------------------------------


def test_each_metric_is_drawn_at_each_k_as_the_scorer_gives_it(data, model):
    _, _, X_test, _ = data
    ks = (1, 3, 10)
    display = MetricsAtKDisplay.from_estimator(
        model, X_test, ks=ks, metrics=("ndcg", "recall", "hit_rate"), name="two epochs"
    )
    assert [axis.get_title() for axis in display.ax_] == ["NDCG@k", "recall@k", "hit rate@k"]
    for metric in ("ndcg", "recall", "hit_rate"):
        line = display.lines_[metric]
        np.testing.assert_array_equal(line.get_xdata(), ks)
        expected = [make_ranking_scorer(metric, k=k)(model, X_test) for k in ks]
        np.testing.assert_allclose(line.get_ydata(), expected)
        np.testing.assert_allclose(display.scores[metric], expected)
    assert display.scores.index.tolist() == list(ks)
    assert [t.get_text() for t in display.ax_[0].get_legend().get_texts()] == ["two epochs"]


def test_a_second_model_on_the_same_axes_is_compared(data, model):
    X, y, X_test, _ = data
    other = MultiTaskRecommender({"rating": "regression"}, max_epochs=1, random_state=1)
    other.fit(X, y[["rating"]])
    first = MetricsAtKDisplay.from_estimator(model, X_test, ks=(1, 5))
    second = MetricsAtKDisplay.from_estimator(other, X_test, ks=(1, 5), ax=first.ax_, name="B")
    assert list(second.ax_) == list(first.ax_)
    for axis in first.ax_:
        assert len(axis.lines) == 2
        legend = [t.get_text() for t in axis.get_legend().get_texts()]
        assert legend == ["MultiTaskRecommender", "B"]
        # the axis reaches the highest line of both
        highest = max(max(line.get_ydata()) for line in axis.lines)
        assert axis.get_ylim()[0] == 0 and axis.get_ylim()[1] >= highest
    assert first.lines_["ndcg"].get_color() != second.lines_["ndcg"].get_color()


def test_relevance_keeps_the_rows_labelled_above_the_threshold(data, model):
    _, _, X_test, y_test = data
    display = MetricsAtKDisplay.from_estimator(
        model, X_test, y_test, ks=5, metrics="recall", relevance=("rating", 4)
    )
    scorer = make_ranking_scorer("recall", k=5, relevance=("rating", 4))
    assert display.scores.loc[5, "recall"] == pytest.approx(scorer(model, X_test, y_test))


def test_metrics_at_k_of_a_pipeline_are_its_recommenders(data, pipeline):
    _, _, X_test, _ = data
    display = MetricsAtKDisplay.from_estimator(pipeline, X_test, ks=(1, 5), metrics="ndcg")
    expected = [make_ranking_scorer("ndcg", k=k)(pipeline[-1][-1], X_test) for k in (1, 5)]
    np.testing.assert_allclose(display.scores["ndcg"], expected)
    assert display.ax_[0].get_legend().get_texts()[0].get_text() == "MultiTaskRecommender"


def test_metrics_at_k_refuses_bad_ks_metrics_and_no_relevant_row(data, model):
    _, _, X_test, y_test = data
    with pytest.raises(ValueError, match="ks must be a non-empty sequence of positive ints"):
        MetricsAtKDisplay.from_estimator(model, X_test, ks=(0, 5))
    with pytest.raises(ValueError, match="metrics must name ranking metrics"):
        MetricsAtKDisplay.from_estimator(model, X_test, metrics=("auc",))
    with pytest.raises(ValueError, match="No held-out row of X is relevant"):
        MetricsAtKDisplay.from_estimator(model, X_test, y_test, relevance=("rating", 99))


# -- RecommendationsDisplay and name_items ---------------------------------------------------


def cells(table) -> list[list[str]]:
    """A matplotlib table's text, row by row (the header first)."""
    grid = table.get_celld()
    n_rows = max(r for r, _ in grid) + 1
    n_cols = max(c for _, c in grid) + 1
    return [[grid[r, c].get_text().get_text() for c in range(n_cols)] for r in range(n_rows)]


def test_recommendations_are_drawn_beside_the_rated_history_with_names(data, model):
    X, y, _, _ = data
    user = X["user_id"].iloc[0]
    names = pd.Series({i: f"film {i}" for i in range(40)})
    display = RecommendationsDisplay.from_estimator(
        model, user, k=4, item_names=names, X=X, y=y, max_history=500
    )
    # the user's rows of X, best rated first
    mine = y.loc[(X["user_id"] == user).to_numpy(), "rating"]
    assert display.history["rating"].tolist() == sorted(mine, reverse=True)
    assert display.history.columns.tolist() == ["item_id", "item_name", "rating"]
    # the recommendations are recommend's, with names
    expected = name_items(model.recommend([user], k=4, explain=True), names)
    pd.testing.assert_frame_equal(display.recommendations, expected)
    history, top = cells(display.tables_["history"]), cells(display.tables_["recommendations"])
    assert history[0] == ["item", "rating"] and len(history) == len(mine) + 1
    assert history[1] == [f"film {display.history['item_id'].iloc[0]}", f"{max(mine):.3g}"]
    assert top[0] == ["rank", "item", "score", "because"] and len(top) == 5
    assert [row[1] for row in top[1:]] == expected["item_name"].tolist()
    assert [row[3] for row in top[1:]] == expected["because_name"].tolist()
    assert display.ax_[0].get_title(loc="left") == f"History of user {user} ({len(mine)} items)"


def test_without_interactions_the_history_is_the_items_of_fit(data, model):
    X = data[0]
    user = X["user_id"].iloc[0]
    display = RecommendationsDisplay.from_estimator(model, user, k=3, max_history=2)
    seen = X.loc[X["user_id"] == user, "item_id"]
    assert sorted(display.history["item_id"]) == sorted(seen.unique())
    assert display.history.columns.tolist() == ["item_id"]
    # two rows drawn, and shown by id without names
    history = cells(display.tables_["history"])
    assert len(history) == 3 and history[0] == ["item"]
    assert history[1] == [str(display.history["item_id"].iloc[0])]
    assert display.ax_[0].get_title(loc="left").endswith(f"({seen.nunique()} items, the first 2)")


def test_a_given_history_is_the_history_shown():
    X, y = make_interactions(n_users=40, n_items=20, n_interactions=500, random_state=1)
    model = MultiTaskRecommender({"rating": "regression"}, max_epochs=1, random_state=0)
    model.fit(X[["user_id", "item_id"]], y[["rating"]])
    new_user = pd.DataFrame({"user_id": [X["user_id"].iloc[0]], "history": [[3, 4, 5]]})
    display = RecommendationsDisplay.from_estimator(model, new_user, k=2)
    assert display.history["item_id"].tolist() == [3, 4, 5]
    assert set(display.recommendations["because"]) <= {3, 4, 5}
    with pytest.raises(ValueError, match="`user` must be one user"):
        RecommendationsDisplay.from_estimator(model, pd.concat([new_user, new_user]))


def test_a_pipeline_recommends_through_its_recommender(data, pipeline):
    X, y, _, _ = data
    recommender = pipeline[-1][-1]
    user = X["user_id"].iloc[3]
    display = RecommendationsDisplay.from_estimator(pipeline, user, k=3, X=X, y=y)
    pd.testing.assert_frame_equal(
        display.recommendations, recommender.recommend([user], k=3, explain=True)
    )
    assert len(display.history) == (X["user_id"] == user).sum()
    # without X, the items the user had in fit
    display = RecommendationsDisplay.from_estimator(pipeline, user, k=3)
    seen = X.loc[X["user_id"] == user, "item_id"]
    assert sorted(display.history["item_id"]) == sorted(seen.unique())


def test_name_items_adds_a_name_beside_each_item_column():
    top = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 12], "because": [11, None, 10]})
    named = name_items(top, {10: "Alien", 11: "Heat"})
    assert named.columns.tolist() == ["user_id", "item_id", "item_name", "because", "because_name"]
    assert named["item_name"].tolist()[:2] == ["Alien", "Heat"]
    assert pd.isna(named["item_name"].iloc[2])  # an id without a name
    assert named["because_name"].tolist()[0] == "Heat"
    assert "item_name" not in top  # a copy
    similar = pd.DataFrame({"movie_id": [10], "similar_movie_id": [11]})
    names = pd.Series(["Alien", "Heat"], index=[10, 11])
    named = name_items(similar, names, columns=["movie_id", "similar_movie_id"])
    assert named.iloc[0].tolist() == [10, "Alien", 11, "Heat"]
    assert named.columns.tolist() == [
        "movie_id",
        "movie_name",
        "similar_movie_id",
        "similar_movie_name",
    ]


def test_name_items_refuses_ambiguous_names_and_unknown_columns():
    top = pd.DataFrame({"item_id": [1]})
    with pytest.raises(ValueError, match=r"several names to the item ids \[1\]"):
        name_items(top, pd.Series(["a", "b"], index=[1, 1]))
    with pytest.raises(TypeError, match="must be a dict"):
        name_items(top, ["a"])
    with pytest.raises(ValueError, match="none of the columns"):
        name_items(pd.DataFrame({"movie": [1]}), {1: "a"})
    with pytest.raises(ValueError, match=r"`columns` \['title'\] are not columns"):
        name_items(top, {1: "a"}, columns="title")
