"""Warnings of the serving methods: ids never seen in fit, and top-k lists cut short.

A user or item new to fit is served, from its features and history (or the population's
where it gives none), so it is no error; but a typo looks just like it, so each public call
that meets such ids says so once (``UnseenIdWarning``). Scorers call the public methods many
times on the same rows: ``silenced`` lets them say it once themselves.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd
from sklearn.utils.metaestimators import available_if

from ..exceptions import ShortListWarning, UnseenIdWarning

# the files whose frames lie between the user's call and the warning: skmtrec's, and the
# wrapper of sklearn's ``available_if`` (``predict_proba``)
_INTERNAL = (os.path.dirname(os.path.dirname(__file__)) + os.sep, inspect.getfile(available_if))
_SHOWN_IDS = 5
# the warnings the calls of this context leave out: "unseen", "short"
_SILENCED: ContextVar[frozenset[str]] = ContextVar("skmtrec_silenced", default=frozenset())


@contextmanager
def silenced(*kinds: str) -> Iterator[None]:
    """Leave out the warnings ``kinds`` ("unseen", "short") of the serving calls made inside
    (of this thread or task only, unlike ``warnings.catch_warnings``)."""
    token = _SILENCED.set(_SILENCED.get() | set(kinds))
    try:
        yield
    finally:
        _SILENCED.reset(token)


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside skmtrec: the
    user's line, however many of the package's calls lie between."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    return level


def ids_of(encoder, role: str, given) -> np.ndarray | None:
    """The ids of ``role`` ("user" or "item") that ``given`` holds: its id column (a
    DataFrame of rows, users or items) or its values (ids); None where the model has no such
    id or the table no such column."""
    label = encoder.user_label if role == "user" else encoder.item_label
    if label is None:
        return None
    if isinstance(given, pd.DataFrame):
        return given[label].to_numpy() if label in given else None
    return np.atleast_1d(np.asarray(given))


def unseen_ids(encoder, role: str, ids) -> list:
    """The distinct ``ids`` of ``role`` that fit never saw, in order of appearance."""
    codebook = encoder.user_codes if role == "user" else encoder.item_codes
    if codebook is None or ids is None or len(ids) == 0:
        return []
    distinct = pd.unique(pd.Series(ids).dropna())
    codes = codebook.transform(pd.Series(distinct))
    return distinct[codes == 0].tolist()


def warn_unseen(method: str, encoder, **given) -> None:
    """One ``UnseenIdWarning`` for ``method``'s call naming the ids of each role given
    (``user=``, ``item=``: a table or ids, as ``ids_of`` reads them) that fit never saw."""
    if "unseen" in _SILENCED.get():
        return
    parts = []
    for role, table in given.items():
        if table is None:
            continue
        unseen = unseen_ids(encoder, role, ids_of(encoder, role, table))
        if unseen:
            label = encoder.user_label if role == "user" else encoder.item_label
            more = ", ..." if len(unseen) > _SHOWN_IDS else ""
            shown = ", ".join(map(repr, unseen[:_SHOWN_IDS]))
            parts.append(f"{len(unseen)} {role} id(s) of column {label!r} ([{shown}{more}])")
    if not parts:
        return
    warnings.warn(
        f"{method}: {' and '.join(parts)} never seen in fit. A new user or item is served "
        "from its features and any history given (without them, as the population's "
        "average); if these ids are typos, correct them. To silence this warning: "
        'warnings.filterwarnings("ignore", category=skmtrec.exceptions.UnseenIdWarning).',
        UnseenIdWarning,
        stacklevel=_caller_level(),
    )


def warn_short_lists(scores: np.ndarray, k: int, n_candidates: int) -> None:
    """A ``ShortListWarning`` counting the users whose top-k lists (``scores``, -inf where an
    item is left out) ``exclude_seen`` cut below k items. Fewer candidates than k is the caller's
    choice (a short list of ``items`` to re-rank), not worth a warning."""
    if "short" in _SILENCED.get():
        return
    kept = (scores > -np.inf).sum(axis=1)
    short = kept < min(k, n_candidates)
    if not short.any():
        return
    warnings.warn(
        f"recommend: {int(short.sum())} of {len(kept)} user(s) get fewer than k={k} items "
        f"(the fewest: {int(kept[short].min())}): exclude_seen=True left out the items they "
        "interacted with (in fit or in the history given). Pass more candidate items, a "
        "smaller k or exclude_seen=False; or silence this warning with "
        'warnings.filterwarnings("ignore", category=skmtrec.exceptions.ShortListWarning).',
        ShortListWarning,
        stacklevel=_caller_level(),
    )
