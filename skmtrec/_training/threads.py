"""The threads torch and the BLAS libraries compute with while an estimator's method runs.

``n_threads=None`` leaves them as they are: joblib's worker processes (``GridSearchCV`` and
``cross_validate`` with ``n_jobs=k``) already start with ``OMP_NUM_THREADS`` and the BLAS
variables at the cores over k, which torch reads when it is imported there, so the fits in
parallel do not oversubscribe the cores. An int sets torch's intra-op threads (and the BLAS
libraries', through threadpoolctl) for the call and restores them after: the setting is the
process's, so calls from several threads of one process share it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from sklearn.utils._available_if import _AvailableIfDescriptor
from sklearn.utils.metaestimators import available_if
from threadpoolctl import threadpool_limits


@contextmanager
def thread_limit(n_threads: int | None) -> Iterator[None]:
    """A context in which torch computes with ``n_threads`` threads (None: as set)."""
    if n_threads is None:
        yield
        return
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        # set_params after fit is not validated until the next fit
        raise ValueError(f"`n_threads` must be an int >= 1 or None; got {n_threads!r}.")
    before = torch.get_num_threads()
    try:
        with threadpool_limits(n_threads, user_api="blas"):
            torch.set_num_threads(n_threads)
            yield
    finally:
        torch.set_num_threads(before)


def limits_threads(method):
    """``method`` run under the estimator's ``n_threads``; a method of ``available_if``
    stays as available as it was."""
    if isinstance(method, _AvailableIfDescriptor):
        return available_if(method.check)(limits_threads(method.fn))

    @functools.wraps(method)
    def limited(self, *args, **kwargs):
        # an estimator pickled before the parameter existed has none
        with thread_limit(getattr(self, "n_threads", None)):
            return method(self, *args, **kwargs)

    return limited


def limit_threads_of(*names: str):
    """A class decorator: the methods ``names``, inherited or the class's own, run under the
    estimator's ``n_threads``."""

    def decorate(cls):
        for name in names:
            setattr(cls, name, limits_threads(inspect.getattr_static(cls, name)))
        return cls

    return decorate
