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


__all__ = ["ModelFileError", "TrainingInterruptedWarning"]
