"""One user's history beside their recommendations, with item names, as two tables."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._pipelines import final_step
from ._names import item_names as names_by_id
from ._names import name_column, name_items
from ._pyplot import axes_for, pyplot

_NAME_WIDTH = 36  # characters of a name drawn; the frames keep it whole


class RecommendationsDisplay:
    """A user's history beside their top-k recommendations, with item names, as two tables.

    The left table lists the items of the user's history (with their labels of the
    regression tasks, such as a rating, where the interactions are given); the right one the
    recommended items with their scores and, where the model keeps users' histories, the
    history item ``because`` of which each is recommended (see ``recommend(explain=True)``).
    Items are shown by name where ``item_names`` has one, else by id. The same tables, with
    ids and names, are the DataFrames ``history`` and ``recommendations``, for reading as
    text. Drawn with
    matplotlib (the ``plot`` extra), in the style of scikit-learn's displays.

    Parameters
    ----------
    history : DataFrame
        The user's history: the item id column, ``item_name`` (where names are given) and
        any label columns.
    recommendations : DataFrame
        ``recommend``'s rows for the user, with the name columns of
        :func:`name_items` where names are given.
    user : object, default=None
        The user's id, for the titles.
    item_col : str, default="item_id"
        The item id column of both tables.
    max_history : int, default=20
        History rows drawn (the best labelled first, where labels are given); the frame keeps
        them all.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure drawn by ``plot``.
    ax_ : ndarray of matplotlib Axes
        The history's Axes and the recommendations'.
    tables_ : dict of {str: matplotlib Table}
        The tables drawn, ``"history"`` and ``"recommendations"``.

    See Also
    --------
    name_items : the names added to ``recommend``'s table, without drawing.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmtrec import MultiTaskRecommender
    >>> from skmtrec.datasets import make_interactions
    >>> from skmtrec.inspection import RecommendationsDisplay
    >>> X, y = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
    >>> X = X[["user_id", "item_id"]]
    >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
    >>> model = model.fit(X, y[["rating"]])
    >>> names = {i: f"film {i}" for i in range(30)}
    >>> display = RecommendationsDisplay.from_estimator(
    ...     model, 3, k=5, item_names=names, X=X, y=y[["rating"]]
    ... )
    >>> display.recommendations.columns.tolist()
    ['user_id', 'rank', 'item_id', 'item_name', 'score', 'because', 'because_name']
    >>> display.history.columns.tolist()
    ['item_id', 'item_name', 'rating']
    """

    def __init__(self, *, history, recommendations, user=None, item_col="item_id", max_history=20):
        self.history = history
        self.recommendations = recommendations
        self.user = user
        self.item_col = item_col
        self.max_history = max_history

    @classmethod
    def from_estimator(
        cls,
        estimator,
        user,
        *,
        k=10,
        item_names=None,
        X=None,
        y=None,
        task=None,
        max_history=20,
        ax=None,
    ) -> RecommendationsDisplay:
        """Recommend for one user with a fitted ``MultiTaskRecommender`` and draw the result
        beside the user's history.

        Parameters
        ----------
        estimator : MultiTaskRecommender or Pipeline ending in one
            Fitted, with user and item ids. Of a Pipeline, its recommender recommends: users
            and the ids of X are read as it reads them.
        user : object or DataFrame
            A user id; or a one-row DataFrame as ``recommend`` takes it (the user id column,
            user features and, in ``history_col``, a list of item ids: a history given).
        k : int, default=10
            Items recommended.
        item_names : Mapping or Series, default=None
            Each item id's name (``{id: name}`` or a Series indexed by id), such as
            ``movies.set_index("item_id")["title"]``; ``None``: items are shown by id.
        X : DataFrame, default=None
            Interactions to read the user's history from (such as those of fit): the user's
            rows give the items, and, with ``y``, their labels. ``None``: the history given
            in ``user``, else the items the user had in fit (without labels: the model does
            not keep them as given).
        y : DataFrame, default=None
            The labels of X's rows (the tasks' columns): those of regression tasks, such as
            a rating, are shown beside the history's items.
        task : str, dict or None, default=None
            The score that ranks, as in ``recommend``.
        max_history : int, default=20
            History rows drawn (the best labelled first, where labels are given).
        ax : array of two matplotlib Axes, default=None
            Where to draw the history and the recommendations; a new figure by default.

        Returns
        -------
        display : RecommendationsDisplay
        """
        recommender = final_step(estimator)
        check_is_fitted(recommender)
        user_col, item_col = recommender.user_col_, recommender.item_col_
        if user_col is None or item_col is None:
            raise ValueError(
                "RecommendationsDisplay needs user and item ids: fit with `user_col` and "
                "`item_col`."
            )
        given = isinstance(user, pd.DataFrame)
        if given and len(user) != 1:
            raise ValueError(f"`user` must be one user: a DataFrame of one row; got {len(user)}.")
        user_id = user[user_col].iloc[0] if given else user
        top = recommender.recommend(
            user if given else [user], k=k, task=task, explain=bool(recommender.user_history)
        )
        history = _history(recommender, user, user_id, X, y)
        if item_names is not None:
            names = names_by_id(item_names)
            top = name_items(top, names, columns=[c for c in (item_col, "because") if c in top])
            history = name_items(history, names, columns=[item_col])
        display = cls(
            history=history.reset_index(drop=True),
            recommendations=top,
            user=user_id,
            item_col=item_col,
            max_history=max_history,
        )
        return display.plot(ax=ax)

    def plot(self, *, ax=None) -> RecommendationsDisplay:
        """Draw the history and the recommendations as two tables.

        Parameters
        ----------
        ax : array of two matplotlib Axes, default=None
            Where to draw the history and the recommendations; a new figure by default.

        Returns
        -------
        self : RecommendationsDisplay
        """
        max_history = self.max_history
        if not (isinstance(max_history, Integral) and not isinstance(max_history, bool)):
            raise ValueError(f"max_history must be a positive int; got {max_history!r}.")
        if max_history < 1:
            raise ValueError(f"max_history must be a positive int; got {max_history!r}.")
        history, top, item_col = self.history, self.recommendations, self.item_col
        shown = history.head(max_history)
        n_rows = max(len(shown), len(top), 1)
        if ax is None:
            plt = pyplot("RecommendationsDisplay")
            figure, ax = plt.subplots(
                1, 2, figsize=(12.0, 0.25 * (n_rows + 1) + 0.8), width_ratios=(2, 3)
            )
            figure.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.02, wspace=0.05)
        axes = axes_for(ax, 2, "RecommendationsDisplay", figsize=None)
        label_columns = [c for c in history.columns if c not in (item_col, name_column(item_col))]
        history_cells = [
            [_shown(row, item_col)] + [_number(row[c]) for c in label_columns]
            for _, row in shown.iterrows()
        ]
        explained = "because" in top
        top_cells = [
            [str(row["rank"]), _shown(row, item_col), _number(row["score"])]
            + ([_shown(row, "because")] if explained else [])
            for _, row in top.iterrows()
        ]
        who = "" if self.user is None else f" of user {self.user}"
        more = f", the first {len(shown)}" if len(shown) < len(history) else ""
        titles = (
            f"History{who} ({len(history)} items{more})",
            f"Top {len(top)} recommended{who.replace(' of', ' for')}",
        )
        layouts = (
            (["item", *label_columns], [6] + [1] * len(label_columns)),
            (["rank", "item", "score"] + ["because"] * explained, [1, 6, 1.2] + [6] * explained),
        )
        self.tables_ = {}
        for axis, key, (columns, widths), cells, title in zip(
            axes,
            ("history", "recommendations"),
            layouts,
            (history_cells, top_cells),
            titles,
            strict=True,
        ):
            axis.set_axis_off()
            axis.set_title(title, loc="left", fontsize="medium")
            if not cells:
                axis.text(0.0, 1.0, "(none)", transform=axis.transAxes, va="top")
                self.tables_[key] = None
                continue
            # rows of one height in both tables: a table fills its share of the Axes' height
            height = (len(cells) + 1) / (n_rows + 1)
            table = axis.table(
                cellText=cells,
                colLabels=columns,
                colWidths=list(np.divide(widths, sum(widths))),
                cellLoc="left",
                bbox=(0.0, 1.0 - height, 1.0, height),
            )
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            for cell in table.get_celld().values():
                cell.PAD = 0.02  # of the cell's width: the default 0.1 indents a wide column
            self.tables_[key] = table
        self.ax_ = axes
        self.figure_ = axes[0].figure
        return self


def _shown(row: pd.Series, column) -> str:
    """How an item of ``row`` is drawn: its name where it has one, else its id."""
    item = row[column]
    if item is None or (isinstance(item, float) and np.isnan(item)):
        return ""
    name = row.get(name_column(column))
    text = str(item) if name is None or pd.isna(name) else str(name)
    return text if len(text) <= _NAME_WIDTH else text[: _NAME_WIDTH - 1] + "…"


def _number(value) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.3g}"


def _history(recommender, user, user_id, X, y) -> pd.DataFrame:
    """The user's history: their rows of X (with the regression tasks' labels of y, best
    first), else the history given in ``user``, else the items they had in fit."""
    user_col, item_col = recommender.user_col_, recommender.item_col_
    if X is not None:
        if not isinstance(X, pd.DataFrame) or user_col not in X or item_col not in X:
            raise ValueError(
                f"`X` must be a DataFrame with the columns {user_col!r} and {item_col!r}."
            )
        mine = (X[user_col] == user_id).to_numpy()
        history = pd.DataFrame({item_col: X[item_col].to_numpy()[mine]})
        if y is not None:
            if not isinstance(y, pd.DataFrame) or len(y) != len(X):
                raise ValueError(
                    "`y` must be a DataFrame of the tasks' labels, one row per row of `X`."
                )
            rated = [t for t, kind in recommender.tasks_.items() if kind == "regression" and t in y]
            for task in rated:
                history[task] = y[task].to_numpy()[mine]
            if rated:
                history = history.sort_values(rated[0], ascending=False, kind="stable")
        return history
    history_col = recommender.history_col
    if isinstance(user, pd.DataFrame) and history_col in user:
        return pd.DataFrame({item_col: list(user[history_col].iloc[0])})
    return pd.DataFrame({item_col: recommender.model_.seen_items(user_id)})
