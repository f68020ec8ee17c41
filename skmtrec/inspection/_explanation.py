"""A bar chart per row of ``MultiTaskRecommender.explain``: what moves each prediction."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._pipelines import final_step
from .._serving.explain import explained_values
from ._pyplot import axes_for


class ExplanationDisplay:
    """How much each input group moves a prediction, as a horizontal bar chart per row.

    Each row's groups are sorted by the size of their contribution, the largest on top; past
    ``max_groups``, the rest are summed into one bar ``other (n groups)``. A contribution is
    the prediction minus the prediction with the group taken away (see
    ``MultiTaskRecommender.explain``): red bars raise the prediction, blue bars lower it. The
    title gives the row's prediction. Contributions are not additive, so the bars need not sum
    to the prediction. Drawn with matplotlib (the ``plot`` extra), in the style of
    scikit-learn's displays.

    Parameters
    ----------
    contributions : DataFrame of shape (n_rows, n_groups)
        The rows of ``explain`` to draw, one chart each.
    predictions : ndarray of shape (n_rows,), default=None
        What is explained for each row (the task's prediction or probability), for the titles.
    task : str, default=None
        The task explained, for the titles.
    max_groups : int, default=10
        Groups drawn per row before the rest are summed into ``other``.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure drawn by ``plot``.
    ax_ : ndarray of matplotlib Axes
        One Axes per row.
    bars_ : list of matplotlib BarContainer
        The bars of each row, top bar first.
    groups_ : list of list of str
        The group labels of each row's bars, top first.

    See Also
    --------
    RecommendationsDisplay : a user's history beside their recommendations.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmtrec import MultiTaskRecommender
    >>> from skmtrec.datasets import make_interactions
    >>> from skmtrec.inspection import ExplanationDisplay
    >>> X, y = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
    >>> X = X.drop(columns="item_text")
    >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
    >>> model = model.fit(X, y[["rating"]])
    >>> display = ExplanationDisplay.from_estimator(model, X, rows=[0, 1], max_groups=3)
    >>> len(display.ax_), display.groups_[0][-1]
    (2, 'other (3 groups)')
    """

    def __init__(self, *, contributions, predictions=None, task=None, max_groups=10):
        self.contributions = contributions
        self.predictions = predictions
        self.task = task
        self.max_groups = max_groups

    @classmethod
    def from_estimator(
        cls, estimator, X, *, task=None, rows=0, max_groups=10, ax=None
    ) -> ExplanationDisplay:
        """Explain rows of ``X`` with a fitted ``MultiTaskRecommender`` and draw them.

        Parameters
        ----------
        estimator : MultiTaskRecommender or Pipeline ending in one
            Fitted. Of a Pipeline, the chosen rows go through its transforms to its
            recommender, which explains them.
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions, as ``explain`` (of a Pipeline: its first step) takes them.
        task : str, default=None
            The task explained; ``None``: the first of ``tasks_``.
        rows : int or sequence of int, default=0
            Positions in ``X`` of the rows to draw (only those are explained).
        max_groups : int, default=10
            Groups drawn per row before the rest are summed into ``other``.
        ax : matplotlib Axes or array of Axes, default=None
            One Axes per row; a new figure by default.

        Returns
        -------
        display : ExplanationDisplay
        """
        check_is_fitted(final_step(estimator))
        positions = _check_rows(rows, len(X))
        chosen = X.iloc[positions] if isinstance(X, pd.DataFrame) else np.asarray(X)[positions]
        recommender, transformed = _through_pipeline(estimator, chosen)
        # what each row's contributions are measured from, out of explain's own forward pass
        with explained_values() as explained:
            contributions = recommender.explain(transformed, task=task)
        if isinstance(chosen, pd.DataFrame):  # X's rows, whatever index the transforms left
            contributions = contributions.set_axis(chosen.index)
        display = cls(
            contributions=contributions,
            predictions=np.asarray(explained[-1], dtype=float),
            task=next(iter(recommender.tasks_)) if task is None else task,
            max_groups=max_groups,
        )
        return display.plot(ax=ax)

    @classmethod
    def from_explanation(
        cls, contributions, *, predictions=None, task=None, rows=0, max_groups=10, ax=None
    ) -> ExplanationDisplay:
        """Draw rows of a table that ``explain`` gave.

        Parameters
        ----------
        contributions : DataFrame of shape (n_samples, n_groups)
            ``explain``'s output.
        predictions : array-like of shape (n_samples,), default=None
            What is explained for each row of ``contributions``, for the titles.
        task : str, default=None
            The task explained, for the titles.
        rows : int or sequence of int, default=0
            Positions in ``contributions`` of the rows to draw.
        max_groups : int, default=10
            Groups drawn per row before the rest are summed into ``other``.
        ax : matplotlib Axes or array of Axes, default=None
            One Axes per row; a new figure by default.

        Returns
        -------
        display : ExplanationDisplay
        """
        if not isinstance(contributions, pd.DataFrame):
            raise TypeError(
                "`contributions` must be the DataFrame that `explain` returns; got "
                f"{type(contributions).__name__}."
            )
        positions = _check_rows(rows, len(contributions))
        if predictions is not None:
            predictions = np.asarray(predictions, dtype=float).reshape(-1)
            if len(predictions) != len(contributions):
                raise ValueError(
                    f"`predictions` has {len(predictions)} values for {len(contributions)} rows "
                    "of `contributions`."
                )
            predictions = predictions[positions]
        display = cls(
            contributions=contributions.iloc[positions],
            predictions=predictions,
            task=task,
            max_groups=max_groups,
        )
        return display.plot(ax=ax)

    def plot(self, *, ax=None) -> ExplanationDisplay:
        """Draw one bar chart per row.

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes, default=None
            One Axes per row; a new figure by default.

        Returns
        -------
        self : ExplanationDisplay
        """
        max_groups = self.max_groups
        if not (isinstance(max_groups, Integral) and not isinstance(max_groups, bool)):
            raise ValueError(f"max_groups must be a positive int; got {max_groups!r}.")
        if max_groups < 1:
            raise ValueError(f"max_groups must be a positive int; got {max_groups!r}.")
        frame = self.contributions
        n_bars = min(frame.shape[1], max_groups + 1)
        axes = axes_for(
            ax, len(frame), "ExplanationDisplay", figsize=(6.4, len(frame) * (0.3 * n_bars + 1.3))
        )
        self.bars_, self.groups_ = [], []
        for j, (axis, (index, values)) in enumerate(zip(axes, frame.iterrows(), strict=True)):
            labels, heights = _top_groups(values.astype(float), max_groups)
            colors = np.where(heights >= 0, "tab:red", "tab:blue")
            bars = axis.barh(np.arange(len(heights)), heights, color=colors)
            axis.set_yticks(np.arange(len(heights)), labels)
            axis.invert_yaxis()  # the largest on top
            axis.axvline(0.0, color="grey", linewidth=0.8)
            axis.bar_label(bars, fmt="%+.3g", fontsize="small", padding=2)
            axis.set_xlabel("prediction minus prediction without the group")
            title = f"row {index}"
            if self.predictions is not None:
                what = f"{self.task} " if self.task is not None else ""
                title += f": {what}prediction {self.predictions[j]:.4g}"
            elif self.task is not None:
                title += f": {self.task}"
            axis.set_title(title)
            axis.margins(x=0.2)
            self.bars_.append(bars)
            self.groups_.append(labels)
        self.ax_ = axes
        self.figure_ = axes[0].figure
        if ax is None:
            self.figure_.tight_layout()
        return self


def _top_groups(values: pd.Series, max_groups: int) -> tuple[list[str], np.ndarray]:
    """The ``max_groups`` largest contributions (by size) with their labels, the rest summed
    into ``other (n groups)``."""
    order = np.argsort(-values.abs().to_numpy(), kind="stable")
    kept, rest = order[:max_groups], order[max_groups:]
    labels = [str(values.index[i]) for i in kept]
    heights = values.to_numpy()[kept]
    if len(rest):
        labels.append(f"other ({len(rest)} groups)")
        heights = np.append(heights, values.to_numpy()[rest].sum())
    return labels, heights


def _check_rows(rows, n_rows: int) -> list[int]:
    """``rows`` (an int or ints) as positions in ``range(n_rows)``; refused naming ``rows``."""
    many = np.ndim(rows) == 1
    positions = list(rows) if many else [rows]
    if not positions or not all(
        isinstance(p, Integral) and not isinstance(p, bool) and -n_rows <= p < n_rows
        for p in positions
    ):
        raise ValueError(
            f"rows must be a position or a non-empty sequence of positions among the {n_rows} "
            f"rows; got {rows!r}."
        )
    return [int(p) % n_rows for p in positions]


def _through_pipeline(estimator, X):
    """The recommender at the end of ``estimator`` (a Pipeline's last step, nested ones
    included) and ``X`` as it reads it: through the transforms of the steps before it."""
    while hasattr(estimator, "steps"):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    return estimator, X
