"""What skmtrec needs to know of scikit-learn Pipelines."""

from __future__ import annotations


def final_step(estimator):
    """The estimator at the end of a (possibly nested) Pipeline: the recommender itself, or the
    last step of the last Pipeline."""
    while hasattr(estimator, "steps"):
        estimator = estimator.steps[-1][1]
    return estimator
