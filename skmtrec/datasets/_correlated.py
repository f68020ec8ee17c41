"""make_correlated_tasks: two regression tasks whose relatedness is a parameter."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state


def make_correlated_tasks(
    n_samples: int = 10_000,
    n_features: int = 100,
    *,
    correlation: float = 0.5,
    n_sinusoids: int = 10,
    scale: float = 1.0,
    noise: float = 0.01,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate two regression tasks with a controlled correlation, as in the MMoE paper.

    The synthetic experiment of Ma et al. (KDD 2018, "Modeling Task Relationships in
    Multi-task Learning with Multi-gate Mixture-of-Experts", section 3.2): inputs
    ``x ~ N(0, I)``; two orthogonal unit vectors u1, u2; task directions ``w_a = scale * u1``
    and ``w_b = scale * (correlation * u1 + sqrt(1 - correlation**2) * u2)``, whose cosine is
    ``correlation``; targets ``y = w.x + sum_k sin(alpha_k * w.x + beta_k) + noise``, with
    ``alpha_k`` and ``beta_k`` drawn once from N(0, 1) and shared by both tasks. The
    non-linearity makes the tasks' label correlation grow with ``correlation`` without being
    equal to it, which is what lets multi-task models be compared across task relatedness.

    Parameters
    ----------
    n_samples : int, default=10_000
        Rows.
    n_features : int, default=100
        Input dimensions, at least 2.
    correlation : float, default=0.5
        Cosine similarity of the two task directions, in [-1, 1].
    n_sinusoids : int, default=10
        Sine terms added to each task.
    scale : float, default=1.0
        Norm of the task directions.
    noise : float, default=0.01
        Standard deviation of the Gaussian noise of each target.
    random_state : int, RandomState instance or None, default=None
        Seeds the directions, the sine terms, the inputs and the noise.

    Returns
    -------
    X : DataFrame of shape (n_samples, n_features)
        Columns ``x0``, ``x1``, ...
    y : DataFrame of shape (n_samples, 2)
        Columns ``task_a`` and ``task_b``.

    Examples
    --------
    >>> from skmtrec.datasets import make_correlated_tasks
    >>> X, y = make_correlated_tasks(n_samples=2000, correlation=0.9, random_state=0)
    >>> X.shape, list(y.columns)
    ((2000, 100), ['task_a', 'task_b'])
    >>> _, y_low = make_correlated_tasks(n_samples=2000, correlation=0.1, random_state=0)
    >>> bool(y.corr().iloc[0, 1] > y_low.corr().iloc[0, 1])
    True
    """
    _check("n_samples", n_samples, Integral, 1)
    _check("n_features", n_features, Integral, 2)
    _check("n_sinusoids", n_sinusoids, Integral, 0)
    _check("noise", noise, Real, 0)
    _check("scale", scale, Real, 0, strict=True)
    if not (isinstance(correlation, Real) and -1 <= correlation <= 1):
        raise ValueError(f"correlation must be a number in [-1, 1]; got {correlation!r}.")
    rng = check_random_state(random_state)
    # two orthonormal directions: the first two columns of a random orthogonal matrix
    u, _ = np.linalg.qr(rng.standard_normal((n_features, 2)))
    w_a = scale * u[:, 0]
    w_b = scale * (correlation * u[:, 0] + np.sqrt(1.0 - correlation**2) * u[:, 1])
    alpha = rng.standard_normal(n_sinusoids)
    beta = rng.standard_normal(n_sinusoids)
    x = rng.standard_normal((n_samples, n_features))

    def target(w):
        linear = x @ w
        waves = np.sin(np.outer(linear, alpha) + beta).sum(axis=1)
        return linear + waves + noise * rng.standard_normal(n_samples)

    X = pd.DataFrame(x, columns=[f"x{j}" for j in range(n_features)])
    return X, pd.DataFrame({"task_a": target(w_a), "task_b": target(w_b)})


def _check(name: str, value, kind: type, low: float, *, strict: bool = False) -> None:
    ok = isinstance(value, kind) and not isinstance(value, bool)
    ok = ok and (value > low if strict else value >= low)  # NaN fails both
    if not ok:
        what = "an int" if kind is Integral else "a number"
        bound = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"{name} must be {what} {bound}; got {value!r}.")
