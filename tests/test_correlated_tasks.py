"""make_correlated_tasks: the MMoE paper's two synthetic tasks of controlled correlation."""

import numpy as np
import pytest

from skmtrec import PLE, MMoE, MultiTaskRecommender, SharedBottom
from skmtrec.datasets import make_correlated_tasks


def test_shapes_names_and_determinism():
    X, y = make_correlated_tasks(n_samples=300, n_features=10, random_state=0)
    assert X.shape == (300, 10) and list(X.columns) == [f"x{j}" for j in range(10)]
    assert list(y.columns) == ["task_a", "task_b"]
    X2, y2 = make_correlated_tasks(n_samples=300, n_features=10, random_state=0)
    assert X.equals(X2) and y.equals(y2)
    _, y3 = make_correlated_tasks(n_samples=300, n_features=10, random_state=1)
    assert not np.allclose(y, y3)


def test_label_correlation_grows_with_the_task_correlation():
    def label_correlation(rho):
        return np.mean(
            [
                make_correlated_tasks(n_samples=4000, correlation=rho, random_state=seed)[1]
                .corr()
                .iloc[0, 1]
                for seed in range(3)
            ]
        )

    measured = [label_correlation(rho) for rho in (0.0, 0.5, 0.9, 1.0)]
    assert measured[0] < measured[1] < measured[2] < measured[3]
    assert abs(measured[0]) < 0.2 and measured[3] > 0.99
    # identical directions: the two targets differ by their noise alone
    _, y = make_correlated_tasks(n_samples=1000, correlation=1.0, noise=0.01, random_state=0)
    assert np.abs(y["task_a"] - y["task_b"]).max() < 0.1


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 10.5}, "n_samples"),
        ({"n_features": 1}, "n_features"),
        ({"correlation": 1.5}, "correlation"),
        ({"correlation": -1.01}, "correlation"),
        ({"correlation": float("nan")}, "correlation"),
        ({"n_sinusoids": -1}, "n_sinusoids"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"scale": 0}, "scale"),
    ],
)
def test_bad_parameters_are_named(params, name):
    with pytest.raises(ValueError, match=name):
        make_correlated_tasks(**params)


@pytest.mark.slow
def test_gated_heads_fit_uncorrelated_tasks_that_a_shared_bottom_cannot():
    """The MMoE paper's synthetic experiment (section 3.2, figure 4), at the paper's sizes: a
    shared bottom of 113 units against 8 experts of 16 (MMoE) and a one-level PLE, towers of 8,
    on two tasks with orthogonal directions. Training MSE, mean over three seeds, as the paper
    measures it (seen: shared bottom 0.029 / 0.025, MMoE 0.012 / 0.012, PLE 0.012 / 0.009,
    single-task models 0.015 / 0.012; the targets' variance is about 2)."""
    common = dict(
        user_col=None,
        item_col=None,
        max_epochs=20,
        patience=None,
        weight_decay=1e-4,
        batch_size=128,
    )
    sizes = dict(dropout=0.0, tower_units=(8,))
    heads = {
        "shared_bottom": dict(architecture=SharedBottom(bottom_units=(113,), **sizes)),
        "mmoe": dict(architecture=MMoE(n_experts=8, expert_units=(16,), **sizes)),
        "ple": dict(architecture=PLE(n_experts=4, n_task_experts=2, expert_units=(16,), **sizes)),
    }
    tasks = ("task_a", "task_b")
    losses = {name: [] for name in [*heads, "single"]}
    for seed in range(3):
        X, y = make_correlated_tasks(n_samples=10_000, correlation=0.0, random_state=seed)
        for name, params in heads.items():
            model = MultiTaskRecommender(
                tasks=dict.fromkeys(tasks, "regression"), random_state=seed, **common, **params
            ).fit(X, y)
            losses[name].append(((model.predict_tasks(X) - y) ** 2).mean().to_numpy())
        single = []
        for task in tasks:
            model = MultiTaskRecommender(
                tasks={task: "regression"}, random_state=seed, **common, **heads["shared_bottom"]
            ).fit(X, y[[task]])
            single.append(((model.predict_tasks(X)[task] - y[task]) ** 2).mean())
        losses["single"].append(np.array(single))
    mse = {name: np.mean(values, axis=0) for name, values in losses.items()}
    for gated in ("mmoe", "ple"):
        assert (mse[gated] < mse["shared_bottom"] / 1.5).all(), mse
        assert (mse[gated] < 1.25 * mse["single"]).all(), mse
