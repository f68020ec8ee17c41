"""The exceptions and warnings skmtrec raises of its own."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model folder's file is altered, corrupted, of another save, or names what skmtrec
    never loads; the message names the file and the field.

    Examples
    --------
    >>> import skmtrec
    >>> from skmtrec.exceptions import ModelFileError
    >>> try:
    ...     skmtrec.load("not-a-model")
    ... except (ModelFileError, FileNotFoundError) as error:
    ...     print(type(error).__name__)
    FileNotFoundError
    """


class TrainingInterruptedWarning(UserWarning):
    """Training stopped at a KeyboardInterrupt after its first epoch; the model keeps what it
    learned so far. Filter it by this class to act on an interrupt (the command line saves
    nothing then).

    Examples
    --------
    >>> import warnings
    >>> from skmtrec.exceptions import TrainingInterruptedWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", TrainingInterruptedWarning)
    """


class UnseenIdWarning(UserWarning):
    """Ids never seen in fit were given to ``predict``, ``predict_tasks``, ``predict_proba``,
    ``explain``, ``score``, ``recommend``, ``similar_items`` or ``similar_users``: once per
    call, with their count and a few of them.

    A new user or item is served (from its features and any history given), so this is no
    error; the warning makes a typo visible. Silence it by its class,
    ``warnings.filterwarnings("ignore", category=UnseenIdWarning)`` (for the whole program),
    or turn it into an error to refuse new ids, as below (for a block).

    Examples
    --------
    >>> import warnings
    >>> from skmtrec.exceptions import UnseenIdWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", UnseenIdWarning)  # or "ignore"
    """


class ShortListWarning(UserWarning):
    """``recommend`` gives some users fewer than k items: ``exclude_seen`` left out the items
    they interacted with (in fit, or in a history given), and too few candidates remained.

    Silence it with ``warnings.filterwarnings("ignore", category=ShortListWarning)``; the
    lists are right, only shorter (padded in ``recommend(..., as_arrays=True)``).
    """


__all__ = ["ModelFileError", "ShortListWarning", "TrainingInterruptedWarning", "UnseenIdWarning"]
