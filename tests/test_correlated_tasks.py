"""make_correlated_tasks: the MMoE paper's two synthetic tasks of controlled correlation."""

import numpy as np
import pytest

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
