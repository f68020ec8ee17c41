"""The scikit-learn contract: estimator checks, clone, params, pickling, model selection."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from skmtrec import MMoE, MultiTaskRecommender, SharedBottom, make_task_scorer

from .conftest import TASKS, fitted_model

EXPECTED_FAILED_CHECKS = {
    "check_methods_subset_invariance": (
        "float32 matrix products on CPU group rows differently for different batch sizes, so "
        "predicting a subset can differ from predicting the whole in the 6th significant digit "
        "(seen: 5e-6 relative); the check asks for 1e-7."
    ),
}


@parametrize_with_checks(
    [
        # On the checks' 200 rows an epoch is one step, and the gated head needs 35 to 55 of
        # them to score R^2 > 0.5 on its training data (after 20: 0.42 to 0.44).
        # ids at positions 0 and 1 of the arrays sklearn's checks generate
        MultiTaskRecommender(user_col=0, item_col=1, max_epochs=60, random_state=0),
        # no id columns: a pure feature model
        MultiTaskRecommender(user_col=None, item_col=None, max_epochs=60, random_state=0),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


SMALL = dict(tasks=TASKS, max_epochs=3, random_state=0)
# two joblib workers repeat the n_jobs=1 fits in other processes (checked cheaply below)
N_JOBS_2 = pytest.param(2, marks=pytest.mark.slow)


def small_model(**params):
    return MultiTaskRecommender(**{**SMALL, **params})


def test_get_set_params_and_clone_keep_values():
    model = small_model(
        architecture=SharedBottom(bottom_units=(64, 32)), task_weights={"rating": 2.0}
    )
    params = model.get_params()
    assert params["architecture__bottom_units"] == (64, 32)
    assert params["task_weights"] == {"rating": 2.0}
    copy = clone(model)
    copied = copy.get_params()
    assert copied.pop("architecture") is not params.pop("architecture")  # cloned, not shared
    assert copied == params
    copy.set_params(lr=0.01, tasks={"rating": "regression"}, architecture__bottom_units=(8,))
    assert model.architecture.bottom_units == (64, 32)
    assert copy.lr == 0.01 and copy.tasks == {"rating": "regression"}
    assert model.lr == 2e-3


def test_pickle_round_trip_predicts_identically(interactions):
    X, _ = interactions
    model = fitted_model(**SMALL)
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.predict_tasks(X), model.predict_tasks(X))
    np.testing.assert_array_equal(
        restored.predict_proba(X, task="like"), model.predict_proba(X, task="like")
    )


def test_check_is_fitted_and_feature_attributes(interactions):
    X, _ = interactions
    model = small_model()
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    with pytest.raises(NotFittedError):
        model.predict(X)
    model = fitted_model(**SMALL)
    check_is_fitted(model)
    assert model.n_features_in_ == X.shape[1]
    assert list(model.feature_names_in_) == list(X.columns)
    assert model.tasks_ == TASKS
    assert list(model.classes_) == ["like", "category"]


def test_numpy_input_columns_by_position(interactions):
    X, y = interactions
    arr = X[["user_id", "item_id", "user_age"]].to_numpy()
    model = small_model(tasks={"rating": "regression"}, user_col=0, item_col=1)
    model.fit(arr, y["rating"].to_numpy())
    assert model.n_features_in_ == 3
    assert not hasattr(model, "feature_names_in_")
    assert model.predict(arr).shape == (len(arr),)


def test_tags():
    tags = MultiTaskRecommender().__sklearn_tags__()
    assert tags.estimator_type == "regressor"
    assert tags.target_tags.required and tags.target_tags.multi_output
    assert small_model().__sklearn_tags__().estimator_type is None


def test_fixed_random_state_gives_identical_models(interactions):
    X, y = interactions
    first = fitted_model(**SMALL).predict_tasks(X)  # fitted once per session, as here
    second = small_model().fit(X, y).predict_tasks(X)
    pd.testing.assert_frame_equal(first, second)
    other = small_model(random_state=1).fit(X, y).predict_tasks(X)
    assert not np.allclose(first["rating"], other["rating"])


def test_fit_does_not_touch_global_torch_rng(interactions):
    X, y = interactions
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small_model(max_epochs=1).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


@pytest.mark.parametrize("n_jobs", [1, N_JOBS_2])
def test_grid_search_on_dataframes(interactions, n_jobs):
    X, y = interactions
    search = GridSearchCV(
        small_model(max_epochs=4, architecture=MMoE()),
        {"embedding_dim": [8, 16], "architecture__dropout": [0.0, 0.2]},
        cv=KFold(3, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )
    search.fit(X, y)
    assert search.best_params_ in search.cv_results_["params"]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # default scoring is MultiTaskRecommender.score: a mean of R^2 and accuracies
    assert 0.2 < search.best_score_ < 1.0
    assert search.best_estimator_.predict(X).shape == (len(X), 3)


@pytest.mark.parametrize("n_jobs", [1, N_JOBS_2])
def test_cross_validate_with_task_scorers(interactions, n_jobs):
    X, y = interactions
    scoring = {
        "rmse": make_task_scorer("rating", "rmse", clip=(1, 5)),
        "auc": make_task_scorer("like", "roc_auc"),
        "acc": make_task_scorer("category", "accuracy"),
    }
    result = cross_validate(
        small_model(max_epochs=30),
        X,
        y,
        cv=KFold(3, shuffle=True, random_state=0),
        scoring=scoring,
        n_jobs=n_jobs,
    )
    # ratings spread with std 1.16; the category's majority class is 25% of the labels, and
    # each item's most frequent category is right 57% of the time in sample (measured: 0.46-0.51)
    assert (-result["test_rmse"] < 0.85).all()
    assert (result["test_auc"] > 0.8).all()
    assert (result["test_acc"] > 0.4).all()


def test_cross_validate_is_reproducible_across_n_jobs(interactions):
    """joblib's workers run torch on one thread each. At the same thread count, n_jobs
    changes nothing; across thread counts, float32 sums are grouped differently (scores then
    differ by about 1e-6 relative, carried by the learned task weights)."""
    X, y = interactions
    cv = KFold(3, shuffle=True, random_state=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = cross_validate(small_model(max_epochs=3), X, y, cv=cv, n_jobs=1)["test_score"]
    finally:
        torch.set_num_threads(threads)
    two = cross_validate(small_model(max_epochs=3), X, y, cv=cv, n_jobs=2)["test_score"]
    np.testing.assert_array_equal(one, two)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_trains_on_cuda(interactions):
    X, y = interactions
    model = small_model(device="cuda", max_epochs=8).fit(X, y)
    assert next(model.net_.module_.parameters()).is_cuda
    cpu = small_model(max_epochs=8).fit(X, y)
    gpu_rmse = -make_task_scorer("rating", "rmse")(model, X, y)
    cpu_rmse = -make_task_scorer("rating", "rmse")(cpu, X, y)
    assert abs(gpu_rmse - cpu_rmse) < 0.05
