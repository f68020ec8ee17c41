"""Ranking metrics of a model's top-k lists drawn against k, one Axes per metric."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._pipelines import final_step
from ..metrics import RANKING_METRICS, make_ranking_scorer
from ._pyplot import axes_for

_LABELS = {
    "ndcg": "NDCG@k",
    "recall": "recall@k",
    "precision": "precision@k",
    "hit_rate": "hit rate@k",
    "map": "MAP@k",
}


class MetricsAtKDisplay:
    """Ranking metrics (NDCG, recall, ...) of a model's top-k lists for several k, one Axes
    per metric and one line per model.

    Each user of the held-out rows gets one list from ``recommend`` at the largest k (items
    seen in fit left out), and every metric at every k is read from it, as
    :func:`skmtrec.metrics.make_ranking_scorer` scores one. Call ``from_estimator`` again with
    the ``ax_`` of a first display to compare models: each call adds one line per Axes, in the
    next colour. Drawn with matplotlib (the ``plot`` extra), in the style of scikit-learn's
    displays.

    Parameters
    ----------
    scores : DataFrame of shape (n_ks, n_metrics)
        Each metric (columns, names of :data:`skmtrec.metrics.RANKING_METRICS`) at each k
        (the index).
    name : str, default=None
        The model's name, for the legend.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure drawn by ``plot``.
    ax_ : ndarray of matplotlib Axes
        One Axes per metric, in the order of ``scores``' columns.
    lines_ : dict of {str: matplotlib Line2D}
        This model's line on each metric's Axes, keyed by metric.

    See Also
    --------
    skmtrec.metrics.make_ranking_scorer : one metric at one k, for ``scoring=``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmtrec import MultiTaskRecommender
    >>> from skmtrec.datasets import make_interactions
    >>> from skmtrec.inspection import MetricsAtKDisplay
    >>> from skmtrec.model_selection import UserHoldout
    >>> X, y = make_interactions(n_users=60, n_items=40, n_interactions=900, random_state=0)
    >>> X = X[["user_id", "item_id"]]
    >>> train, test = next(UserHoldout(0.2, random_state=0).split(X))
    >>> model = MultiTaskRecommender({"seen": "implicit"}, max_epochs=2, random_state=0)
    >>> model = model.fit(X.iloc[train])
    >>> display = MetricsAtKDisplay.from_estimator(model, X.iloc[test], ks=(1, 5, 10))
    >>> display.scores.index.tolist(), display.scores.columns.tolist()
    ([1, 5, 10], ['ndcg', 'recall'])
    """

    def __init__(self, *, scores, name=None):
        self.scores = scores
        self.name = name

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        ks=(1, 5, 10, 20),
        metrics=("ndcg", "recall"),
        relevance=None,
        task=None,
        name=None,
        ax=None,
    ) -> MetricsAtKDisplay:
        """Score a fitted recommender's top-k lists on held-out interactions and draw them.

        Parameters
        ----------
        estimator : MultiTaskRecommender or Pipeline ending in one
            Fitted.
        X : DataFrame
            Held-out interactions (their user and item ids): the relevant items of their users.
        y : DataFrame, default=None
            Their labels, needed with ``relevance``.
        ks : sequence of int, default=(1, 5, 10, 20)
            The list lengths; ``range(1, 21)`` draws every k up to 20 (for the cost of one).
        metrics : str or sequence of str, default=("ndcg", "recall")
            Names among ``"ndcg"``, ``"recall"``, ``"precision"``, ``"hit_rate"``, ``"map"``.
        relevance : tuple of (str, float), default=None
            Count a held-out row as relevant only if its label of that task is at least the
            threshold, e.g. ``("rating", 4)``; ``None``: every held-out row is relevant.
        task : str, dict or None, default=None
            The score that ranks, as in ``recommend``.
        name : str, default=None
            The model's name in the legend; by default its class name.
        ax : matplotlib Axes or array of Axes, default=None
            One Axes per metric (the ``ax_`` of another display, to compare); a new figure by
            default.

        Returns
        -------
        display : MetricsAtKDisplay
        """
        ks = _check_ks(ks)
        metrics = _check_metrics(metrics)
        check_is_fitted(final_step(estimator))
        scorer = make_ranking_scorer(metrics[0], k=ks[-1], relevance=relevance, task=task)
        lists = scorer.lists(estimator, X, y)
        if lists is None:
            raise ValueError(
                "No held-out row of X is relevant"
                + (f" under relevance={relevance!r}" if relevance is not None else "")
                + ": the metrics are undefined."
            )
        scores = pd.DataFrame(
            {m: [RANKING_METRICS[m](*lists, k=k) for k in ks] for m in metrics},
            index=pd.Index(ks, name="k"),
        )
        name = type(final_step(estimator)).__name__ if name is None else name
        return cls(scores=scores, name=name).plot(ax=ax)

    def plot(self, *, ax=None, name=None) -> MetricsAtKDisplay:
        """Draw each metric against k.

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes, default=None
            One Axes per metric; a new figure by default.
        name : str, default=None
            The model's name in the legend; by default ``self.name``.

        Returns
        -------
        self : MetricsAtKDisplay
        """
        name = self.name if name is None else name
        metrics = list(self.scores.columns)
        axes = axes_for(
            ax, len(metrics), "MetricsAtKDisplay", figsize=(4.2 * min(len(metrics), 3), 3.6),
            ncols=3,
        )  # fmt: skip
        ks = self.scores.index.to_numpy()
        self.lines_ = {}
        for axis, metric in zip(axes, metrics, strict=True):
            (self.lines_[metric],) = axis.plot(ks, self.scores[metric], marker="o", label=name)
            label = _LABELS.get(metric, f"{metric}@k")
            axis.set(xlabel="k", ylabel=label, title=label)
            # from 0, up to the highest line of every model drawn here
            top = max(np.nanmax(np.asarray(line.get_ydata(), dtype=float)) for line in axis.lines)
            axis.set_ylim(0.0, top * 1.08 if top > 0 else 1.0)
            if len(ks) <= 10:
                axis.set_xticks(ks)
            if name is not None:
                axis.legend(fontsize="small")
        self.ax_ = axes
        self.figure_ = axes[0].figure
        if ax is None:
            self.figure_.tight_layout()
        return self


def _check_ks(ks) -> list[int]:
    """``ks`` as sorted distinct positive ints; refused naming ``ks``."""
    values = list(ks) if np.ndim(ks) == 1 else [ks]
    if not values or not all(
        isinstance(k, Integral) and not isinstance(k, bool) and k >= 1 for k in values
    ):
        raise ValueError(f"ks must be a non-empty sequence of positive ints; got {ks!r}.")
    return sorted({int(k) for k in values})


def _check_metrics(metrics) -> list[str]:
    """``metrics`` as a list of names of ``RANKING_METRICS``; refused naming ``metrics``."""
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in names if m not in RANKING_METRICS]
    if not names or unknown:
        raise ValueError(
            f"metrics must name ranking metrics among {sorted(RANKING_METRICS)}; got {metrics!r}."
        )
    return list(dict.fromkeys(names))
