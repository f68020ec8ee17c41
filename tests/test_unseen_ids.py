"""Ids never seen in fit, and top-k lists cut short, are served with a warning (issue 39)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skmtrec.exceptions import ShortListWarning, UnseenIdWarning
from skmtrec.metrics import make_ranking_scorer

from .conftest import dataset, fitted_model

TASKS = {"rating": "regression", "like": "binary", "clicked": "implicit"}


@pytest.fixture(scope="module")
def model():
    return fitted_model("tiny", tasks=TASKS, max_epochs=1, random_state=0)


def caught(call) -> tuple[object, list[warnings.WarningMessage]]:
    """What ``call()`` returns and every warning it raises, none left out by a filter."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = call()
    return result, record


def unseen_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, UnseenIdWarning)]


def rows_with(user_id, item_id, n=3):
    X, _ = dataset("tiny")
    return X.head(n).assign(user_id=user_id, item_id=item_id)


CALLS = {
    "predict": lambda m: m.predict(rows_with([1, 99999, 99999], 2)),
    "predict_tasks": lambda m: m.predict_tasks(rows_with([1, 99999, 99999], 2)),
    "predict_proba": lambda m: m.predict_proba(rows_with([1, 99999, 99999], 2), task="like"),
    "explain": lambda m: m.explain(rows_with([1, 99999, 99999], 2)),
    "recommend": lambda m: m.recommend([1, 99999, 99999], k=3),
    "similar_users": lambda m: m.similar_users([1, 99999, 99999], k=3),
}


@pytest.mark.parametrize("method", list(CALLS))
def test_each_method_warns_once_with_the_count_column_and_ids(model, method):
    result, record = caught(lambda: CALLS[method](model))
    (message,) = unseen_warnings(record)
    assert message.startswith(f"{method}: 1 user id(s) of column 'user_id' ([99999])")
    assert "served from its features" in message and "typos" in message
    assert len(result) > 0  # served all the same
    # the warning points at the caller's line, not at skmtrec's
    assert {w.filename for w in record if w.category is UnseenIdWarning} == {__file__}


def test_similar_items_and_an_unseen_candidate_item_warn(model):
    _, record = caught(lambda: model.similar_items([3, 99999], k=2))
    (message,) = unseen_warnings(record)
    assert message.startswith("similar_items: 1 item id(s) of column 'item_id' ([99999])")
    recs, record = caught(lambda: model.recommend([1], items=[99999]))
    (message,) = unseen_warnings(record)
    assert message.startswith("recommend: 1 item id(s) of column 'item_id' ([99999])")
    assert recs["item_id"].tolist() == [99999]


def test_users_and_items_unseen_together_make_one_warning(model):
    _, record = caught(lambda: model.predict(rows_with([-1, -2, 4], [-7, 3, 3])))
    (message,) = unseen_warnings(record)
    assert message.startswith(
        "predict: 2 user id(s) of column 'user_id' ([-1, -2]) and 1 item id(s) of column "
        "'item_id' ([-7]) never seen in fit"
    )


def test_the_message_counts_every_unseen_id_and_shows_five(model):
    _, record = caught(lambda: model.recommend([1000, 1001, 1002, 1003, 1004, 1005, 1], k=2))
    (message,) = unseen_warnings(record)
    assert "7 user id(s)" not in message
    assert "6 user id(s) of column 'user_id' ([1000, 1001, 1002, 1003, 1004, ...])" in message


def test_ids_seen_in_fit_do_not_warn(model):
    X, _ = dataset("tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenIdWarning)
        model.predict_tasks(X)
        model.recommend(X["user_id"].unique(), k=2)
        model.similar_items([0, 1], k=2)


def test_a_warnings_filter_by_class_silences_it(model):
    def quiet():
        warnings.filterwarnings("ignore", category=UnseenIdWarning)
        return model.recommend([99999], k=3)

    recs, record = caught(quiet)
    assert unseen_warnings(record) == []
    assert len(recs) == 3


def test_a_new_user_given_with_features_warns_once_and_is_served(model):
    """A legitimate new user is not refused: served from the features given, with one
    warning counting one id."""
    new = pd.DataFrame({"user_id": [-1], "user_age": [70], "user_segment": ["retired"]})
    recs, record = caught(lambda: model.recommend(new, k=4))
    (message,) = unseen_warnings(record)
    assert message.startswith("recommend: 1 user id(s) of column 'user_id' ([-1])")
    assert recs["user_id"].tolist() == [-1] * 4
    population, _ = caught(lambda: model.recommend([-1], k=4))
    assert not np.allclose(recs["score"], population["score"])  # the features count


def test_a_list_cut_short_by_exclude_seen_warns_with_the_users_short(model):
    X, _ = dataset("tiny")
    seen = X.loc[X["user_id"] == 1, "item_id"].unique()[:3]
    recs, record = caught(lambda: model.recommend([1, 99999], k=3, items=list(seen)))
    short = [str(w.message) for w in record if w.category is ShortListWarning]
    assert short == [
        "recommend: 1 of 2 user(s) get fewer than k=3 items (the fewest: 0): exclude_seen=True "
        "left out the items they interacted with (in fit or in the history given). Pass more "
        "candidate items, a smaller k or exclude_seen=False; or silence this warning with "
        'warnings.filterwarnings("ignore", category=skmtrec.exceptions.ShortListWarning).'
    ]
    assert recs["user_id"].tolist() == [99999] * 3
    # the filter the message gives silences it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=ShortListWarning)
        warnings.filterwarnings("ignore", category=UnseenIdWarning)
        model.recommend([1], k=3, items=list(seen))


def test_fewer_candidates_than_k_or_exclude_seen_off_do_not_warn(model):
    X, _ = dataset("tiny")
    seen = X.loc[X["user_id"] == 1, "item_id"].unique()[:3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(model.recommend([1], k=3, items=list(seen), exclude_seen=False)) == 3
        assert len(model.recommend([1], k=10, items=[2, 4])) == 2


def test_score_warns_once_for_its_predictions_and_its_rankings(model):
    X, y = dataset("tiny")
    rows = X.head(20).assign(user_id=np.arange(100, 120))
    value, record = caught(lambda: model.score(rows, y.head(20)[["rating", "like"]]))
    (message,) = unseen_warnings(record)
    assert message.startswith("score: 20 user id(s)")
    assert np.isfinite(value)
    assert not [w for w in record if w.category is UserWarning]


def test_the_ranking_scorer_counts_short_lists_as_misses_without_a_warning(model):
    X, _ = dataset("tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # k beyond the catalog: every list is cut short by the items seen
        assert 0 <= make_ranking_scorer("ndcg", 25)(model, X.tail(50)) <= 1
