import json
import os
import socket
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from skmtrec import SentenceEmbedder, _sentence_embedder
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
    X[list(GENRES)] = X[list(GENRES)].astype(bool)
    y = frame[["rating"]].assign(like=(frame["rating"] >= 4).astype(float))
    return X, y


def network_from_spec(model) -> MultiTaskNetwork:
    """A fitted model's network rebuilt from its spec as plain JSON and its state dict, without
    pickle; histories are data, not weights, so the rebuilt network is given them."""
    spec = json.loads(json.dumps(model.network_spec_))
    module = model.net_.module_
    histories = {side: h.arrays() for side, h in module.inputs.histories.items()}
    rebuilt = MultiTaskNetwork(spec, history=histories)
    rebuilt.load_state_dict(module.state_dict())
    return rebuilt


@pytest.fixture(scope="session")
def interactions():
    X, y = make_interactions(n_users=300, n_items=150, n_interactions=12_000, random_state=0)
    return X.drop(columns="item_text"), y


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
