"""Splitters for recommendation data."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_validate

from skmtrec import MultiTaskRecommender, make_task_scorer
from skmtrec.model_selection import ColdItemSplit, UserHoldout

from .conftest import TASKS


def test_user_holdout_random_keeps_every_test_user_in_train(movielens):
    X = movielens.train
    splits = list(UserHoldout(0.2, n_splits=2, random_state=0).split(X))
    assert len(splits) == 2
    for train, test in splits:
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(X)
        assert set(X["user_id"].iloc[test]) <= set(X["user_id"].iloc[train])
        share = X["user_id"].iloc[test].value_counts() / X["user_id"].value_counts()
        assert share.dropna().between(0.1, 0.3).all()
    assert not np.array_equal(splits[0][1], splits[1][1])


def test_user_holdout_by_time_holds_out_each_users_latest_rows(movielens):
    X = movielens.train
    train, test = next(UserHoldout(0.2, by="time").split(X))
    last_train = X.iloc[train].groupby("user_id")["timestamp"].max()
    first_test = X.iloc[test].groupby("user_id")["timestamp"].min()
    assert (first_test >= last_train.loc[first_test.index]).all()


def test_single_row_users_stay_in_train():
    X = pd.DataFrame({"user_id": [1, 2, 2, 2, 2], "item_id": range(5)})
    train, test = next(UserHoldout(0.5, random_state=0).split(X))
    assert 0 in train and len(test) == 2


def test_cold_item_split_never_shares_items(movielens):
    X = movielens.ratings
    train, test = next(ColdItemSplit(0.2, random_state=0).split(X))
    train_items, test_items = set(X["item_id"].iloc[train]), set(X["item_id"].iloc[test])
    assert not train_items & test_items
    assert len(test_items) == int(0.2 * X["item_id"].nunique())


def test_splitters_plug_into_cross_validate(interactions):
    X, y = interactions
    for cv in (UserHoldout(0.2, n_splits=2, random_state=0), ColdItemSplit(0.2, n_splits=2)):
        result = cross_validate(
            MultiTaskRecommender(tasks=TASKS, max_epochs=5, random_state=0),
            X,
            y,
            cv=cv,
            scoring=make_task_scorer("rating", "rmse"),
        )
        assert len(result["test_score"]) == 2 and np.isfinite(result["test_score"]).all()


def test_bad_splitter_parameters_are_named():
    X = pd.DataFrame({"user_id": [1, 1], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match="test_size must be a float in"):
        next(UserHoldout(1.5).split(X))
    with pytest.raises(ValueError, match=r"by='time' .* n_splits=1"):
        next(UserHoldout(by="time", n_splits=3).split(X))
    with pytest.raises(ValueError, match="item id column 'item_id' is missing"):
        next(ColdItemSplit().split(X))
