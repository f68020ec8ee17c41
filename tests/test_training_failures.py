"""Training that fails: a diverging loss is an error, an interrupted fit says what it kept."""

import warnings

import numpy as np
import pandas as pd
import pytest
from skorch.callbacks import Callback

from skmtrec import MultiTaskRecommender

from .conftest import TASKS, fitted_model


class InterruptAt(Callback):
    """Presses Ctrl-C at the start of a given epoch's first batch."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training and len(net.history) == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture
def fitted():
    """A fresh copy of the session's model for each test, which tries to refit it."""
    return fitted_model(tasks=TASKS, max_epochs=3, random_state=0)


def test_a_diverging_fit_is_an_error_naming_lr(interactions):
    X, y = interactions
    model = MultiTaskRecommender(tasks=TASKS, lr=1e3, max_epochs=3, random_state=0)
    with pytest.raises(FloatingPointError, match=r"Training diverged: .* Lower `lr` \(now 1000\)"):
        model.fit(X, y)
    assert not hasattr(model, "net_")


def test_a_diverging_refit_keeps_the_previous_model(fitted, interactions):
    X, y = interactions
    before = fitted.predict_tasks(X)
    with pytest.raises(FloatingPointError, match="Training diverged"):
        fitted.set_params(lr=1e3).fit(X, y)
    pd.testing.assert_frame_equal(fitted.predict_tasks(X), before)


def test_an_interrupted_fit_warns_and_keeps_what_it_learned(interactions):
    X, y = interactions
    model = MultiTaskRecommender(
        tasks=TASKS, max_epochs=10, callbacks=[InterruptAt(3)], random_state=0
    )
    with pytest.warns(UserWarning, match=r"interrupted \(KeyboardInterrupt\) after 2 completed"):
        model.fit(X, y)
    assert len(model.net_.history) == 3
    assert np.isfinite(model.predict_tasks(X)["rating"]).all()
    assert model.score(X, y) > 0.3


def test_an_interrupt_in_the_first_epoch_keeps_the_previous_model(fitted, interactions):
    X, y = interactions
    before = fitted.predict_tasks(X)
    with pytest.raises(KeyboardInterrupt, match="interrupted in its first epoch"):
        fitted.set_params(callbacks=[InterruptAt(1)]).fit(X, y)
    pd.testing.assert_frame_equal(fitted.predict_tasks(X), before)


def test_early_stopping_is_no_interruption(interactions):
    """skorch's EarlyStopping ends training by raising KeyboardInterrupt: no warning then."""
    X, y = interactions
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=100, patience=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y)
    assert len(model.net_.history) < 100
    assert not model.net_.interrupted
