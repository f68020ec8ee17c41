"""Shared fixtures and helpers.

Tests marked ``slow`` (quality and research claims that fit large models, multi-process
runs) run in CI with everything else; while developing, leave them out with
``python -m pytest -m "not slow"``.
"""

import copy
import functools
import json
import os
import socket
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from skmtrec import MultiTaskRecommender, SentenceEmbedder, _sentence_embedder
from skmtrec.datasets import GENRES, load_movielens_100k, make_interactions
from skmtrec.nn import MultiTaskNetwork

TASKS = {"rating": "regression", "like": "binary", "category": "multiclass"}

# Under pytest-xdist (`-n 2`) the workers share the cores: each gets its share of torch
# threads, or two workers of two threads each would fight over two cores.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)  # noqa: NPY002 - code under test may read the legacy global RNG
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def movielens():
    """MovieLens 100K u1 split from the data home ($SKMTREC_DATA); skipped only outside CI."""
    try:
        return load_movielens_100k(fold=1, download_if_missing=False)
    except OSError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"MovieLens 100K not available: {exc}")


def movielens_xy(frame: pd.DataFrame):
    """The core set-up: age, gender, occupation and genre flags; rating and like."""
    X = frame[["user_id", "item_id", "age", "gender", "occupation", *GENRES]].copy()
    y = frame[["rating"]].assign(like=(frame["rating"] >= 4).astype(float))
    return X, y


def network_from_spec(model) -> MultiTaskNetwork:
    """A fitted model's network rebuilt from its spec as plain JSON and its state dict, without
    pickle; histories are data, not weights, so the rebuilt network is given them."""
    spec = json.loads(json.dumps(model.network_spec_))
    module = model.net_.module_
    rebuilt = MultiTaskNetwork(spec, history=module.history_arrays())
    rebuilt.load_state_dict(module.state_dict())
    return rebuilt


# Synthetic data sets shared by the session, for tests where the size does not matter.
DATASETS = {
    "tiny": dict(n_users=30, n_items=20, n_interactions=300, random_state=0),
    "small": dict(n_users=60, n_items=40, n_interactions=1500, random_state=0),
    "medium": dict(n_users=120, n_items=60, n_interactions=3000, random_state=0),
    # the `interactions` fixture
    "default": dict(n_users=300, n_items=150, n_interactions=12_000, random_state=0),
    # train on the first 6500 rows, test on the last 1500 (the head x balancing grid)
    "split": dict(n_users=200, n_items=100, n_interactions=8000, random_state=1),
}


@functools.cache
def dataset(name: str = "default") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``make_interactions(**DATASETS[name])`` without the text column, built once per session.
    Shared: assign to copies, never in place."""
    X, y = make_interactions(**DATASETS[name])
    return X.drop(columns="item_text"), y


@pytest.fixture(scope="session")
def interactions():
    return dataset("default")


# Models fitted so far in this session, keyed by the data set, the rows and the parameters.
_FITTED: dict[tuple, MultiTaskRecommender] = {}


def _key(value):
    """A parameter as a hashable value: an estimator (an architecture, a balancing) by its
    class and parameters, a mapping in its order (the order of tasks matters)."""
    if hasattr(value, "get_params"):
        params = sorted(value.get_params(deep=False).items())
        return type(value).__qualname__, tuple((name, _key(v)) for name, v in params)
    if isinstance(value, dict):
        return tuple((name, _key(v)) for name, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_key(v) for v in value)
    return repr(value)


def fitted_model(data: str = "default", n_rows: int | None = None, **params):
    """``MultiTaskRecommender(**params)`` fitted on ``dataset(data)`` (its first ``n_rows``
    rows when given; of y, the columns that name a task, or no y when none does), fitted once
    per session however many tests and files ask for it.

    Returns a deep copy, so a test may refit it, set its parameters or put it in eval mode
    without changing what the next test gets (a copy takes milliseconds, a fit seconds).
    Use it where a test needs *a* fitted model of these parameters, not where the test is
    about fitting itself (reproducibility, warnings or errors raised in fit).
    """
    # which test fits first is not fixed: the model must not depend on the global RNG
    assert params.get("random_state") is not None, "fitted_model needs a random_state"
    key = (data, n_rows, _key(dict(sorted(params.items()))))
    if key not in _FITTED:
        X, y = dataset(data)
        X, y = X.iloc[:n_rows], y.iloc[:n_rows]
        model = MultiTaskRecommender(**params)
        if model.tasks is not None:
            y = y[[task for task in model.tasks if task in y.columns]]
        _FITTED[key] = model.fit(X, y) if y.shape[1] else model.fit(X)
    return copy.deepcopy(_FITTED[key])


@pytest.fixture
def encode_calls(monkeypatch):
    """Counts the texts that reach the real model's encode (a spy: the model still encodes)."""
    calls = []
    _sentence_embedder._MEMORY_CACHE.clear()
    original = SentenceEmbedder._load_model

    def load(self):
        model = original(self)
        if not getattr(model, "_spied", False):
            real = model.encode

            def encode(texts, **kwargs):
                calls.append(list(texts))
                return real(texts, **kwargs)

            model.encode, model._spied = encode, True
        return model

    monkeypatch.setattr(SentenceEmbedder, "_load_model", load)
    return calls


def free_port() -> int:
    """A port of 127.0.0.1 that is free now, for servers and processes a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_workers(command: list[str], n: int, timeout: float = 600) -> list[tuple[str, str]]:
    """Runs ``command`` in ``n`` processes at once; each must succeed (its stderr shown if not).
    Returns each one's (stdout, stderr)."""
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    outputs = [w.communicate(timeout=timeout) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
    return outputs
