"""The estimator's serving methods: predict, explain, recommend, score.

Each checks its input against fit and hands it to the fitted model (``model_``, a
``FittedModel``), which decides what a prediction is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._prepare.features import as_pandas
from .._prepare.targets import targets_frame
from .._tasks import TASK_KINDS
from ..metrics._ranking_scorer import make_ranking_scorer
from .unseen import silenced, warn_unseen


def is_classifier_kind(kind) -> bool:
    return kind in TASK_KINDS and TASK_KINDS[kind].is_classifier


def _declares_classification(estimator) -> bool:
    tasks = estimator.tasks
    if tasks is None or not isinstance(tasks, Mapping):
        raise AttributeError("predict_proba needs a classification task; `tasks` declares none.")
    if not any(is_classifier_kind(kind) for kind in tasks.values()):
        raise AttributeError("predict_proba needs a classification task; `tasks` declares none.")
    return True


def _index(X):
    return X.index if isinstance(X, pd.DataFrame) else None


class ServingMethods:
    """What a fitted ``MultiTaskRecommender`` does, as methods of the estimator."""

    # -- predict -------------------------------------------------------------------------------

    def _rows(self, X):
        """X's rows checked against fit, and the histories X gives (None: none)."""
        check_is_fitted(self)
        X, given = self.model_.split_given(as_pandas(X))
        return self._check_X(X, reset=False), given

    def predict_tasks(self, X) -> pd.DataFrame:
        """Predict every task, as a DataFrame with one named column per task.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit. Ids never seen in fit are predicted from
            the features (and a history given), with an
            :class:`~skmtrec.exceptions.UnseenIdWarning` naming them.

        Returns
        -------
        predictions : DataFrame of shape (n_samples, n_tasks)
            Values for regression tasks, the score for implicit tasks (the probability of an
            interaction, a float in [0, 1]: observed rows are all positives, so a 0/1 label
            would say nothing), class labels for binary, multiclass and multilabel tasks; the
            index is X's index when X is a DataFrame.

        Examples
        --------
        >>> from skmtrec import MultiTaskRecommender
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
        >>> X = X[["user_id", "item_id", "user_age"]]
        >>> tasks = {"rating": "regression", "clicked": "implicit"}
        >>> model = MultiTaskRecommender(tasks, max_epochs=2, random_state=0).fit(X, y[["rating"]])
        >>> model.predict_tasks(X.head(2)).dtypes.tolist()
        [dtype('float64'), dtype('float64')]
        """
        return self._predict_tasks(X, "predict_tasks")

    def _predict_tasks(self, X, method: str) -> pd.DataFrame:
        frame, given = self._rows(X)
        predictions = self.model_.predict_tasks(frame, given, index=_index(X))
        warn_unseen(method, self.model_.encoder, user=frame, item=frame)
        return predictions

    def predict(self, X) -> np.ndarray:
        """Predict every task.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_tasks)
            One column per task in the order of ``tasks_`` (1-D for a single task): values for
            regression, the score for implicit tasks (a float in [0, 1]), class labels for
            classification. Use :meth:`predict_tasks` for named columns; ids never seen in fit
            warn as there.
        """
        predictions = self._predict_tasks(X, "predict")
        if predictions.shape[1] == 1:
            return predictions.iloc[:, 0].to_numpy()
        return predictions.to_numpy()

    @available_if(_declares_classification)
    def predict_proba(self, X, task: str | None = None) -> np.ndarray:
        """Class probabilities of a classification task.

        The classification tasks are the binary, multiclass, multilabel and implicit ones; an
        implicit task's probabilities are those of no interaction and of one (its classes are
        0 and 1), the second column being what :meth:`predict` gives for it.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit. Ids never seen in fit warn as in
            :meth:`predict_tasks`.
        task : str, default=None
            The classification task whose probabilities to return. ``None``: the only
            classification task; a model with several refuses it (ValueError naming them).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_[task]`` (a multilabel task: one column per label, each
            the probability of that label).

        Examples
        --------
        >>> from skmtrec import MultiTaskRecommender
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
        >>> X = X[["user_id", "item_id", "user_age"]]
        >>> model = MultiTaskRecommender({"like": "binary"}, max_epochs=2, random_state=0)
        >>> model.fit(X, y[["like"]]).predict_proba(X.head(3)).shape
        (3, 2)
        """
        check_is_fitted(self)
        names = [name for name, t in self.fitted_tasks_.items() if t.is_classifier]
        if task is None and len(names) > 1:
            raise ValueError(
                f"predict_proba: the model has {len(names)} classification tasks {names} "
                "(implicit tasks count: their probability of an interaction); name one, e.g. "
                f"predict_proba(X, task={names[0]!r})."
            )
        if task is not None and task not in names:
            raise ValueError(f"task={task!r} is not a classification task; choose from {names}.")
        wanted = task if task is not None else names[0]
        frame, given = self._rows(X)
        proba = self.model_.predict_proba(frame, given, [wanted])[wanted]
        warn_unseen("predict_proba", self.model_.encoder, user=frame, item=frame)
        return proba

    def explain(self, X, task: str | None = None) -> pd.DataFrame:
        """How much each input group moves a task's prediction, row by row.

        A group's contribution is the prediction minus the prediction with that group taken
        away (an ablation): the user or item id at the unseen code (its history kept), the
        user's or item's history left empty, a numeric feature at its fit mean, a categorical
        one unknown. Numeric columns named ``<name>_<k>`` sharing a ``<name>``, as
        :class:`SentenceEmbedder` names a text's embedding, count as the one group
        ``<name>``. Contributions are not additive: groups that act together (an id and its
        history) can each be small where taking both away would not be. The prediction is
        that of ``predict``: for an item new to fit (an ablated item id makes it new), a
        regression task's value blends in the content model of ``cold_start``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit (and ``history_col``, where a user gives a
            history). Ids never seen in fit warn as in :meth:`predict_tasks`.
        task : str, default=None
            The task explained; ``None``: the first of ``tasks_``. What is explained is a
            regression task's prediction (in y units), a binary or implicit task's probability
            of the positive class, a multiclass or multilabel task's probability of the class
            (label) most probable for the row.

        Returns
        -------
        contributions : DataFrame of shape (n_samples, n_groups)
            One column per group: the user and item id columns, ``user_history`` and
            ``item_history`` (where histories are kept) and each feature (or text) group; the
            index is X's index when X is a DataFrame.

        Examples
        --------
        >>> from skmtrec import MultiTaskRecommender
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
        >>> X = X.drop(columns="item_text")
        >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
        >>> model.fit(X, y[["rating"]]).explain(X.head(2)).columns.tolist()
        ['user_id', 'user_history', 'item_id', 'item_history', 'user_age', 'user_segment']
        """
        check_is_fitted(self)
        if task is None:
            task = next(iter(self.tasks_))
        if task not in self.fitted_tasks_:
            raise ValueError(
                f"explain: {task!r} is not a task of this model; its tasks are {list(self.tasks_)}."
            )
        frame, given = self._rows(X)
        contributions = self.model_.explain(frame, given, task, index=_index(X))
        warn_unseen("explain", self.model_.encoder, user=frame, item=frame)
        return contributions

    # -- recommending ---------------------------------------------------------------------------

    def _check_catalog(self, method: str) -> None:
        check_is_fitted(self)
        if self.model_.catalog is None:
            raise ValueError(
                f"{method} needs user and item ids: fit with `user_col` and `item_col`."
            )

    def recommend(
        self,
        users,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        task=None,
        items=None,
        explain: bool = False,
        candidates: int = 500,
        as_arrays: bool = False,
    ) -> pd.DataFrame | tuple[np.ndarray, np.ndarray]:
        """Top-k items for each user: retrieved from the whole catalog, re-ranked by the head.

        Each user's and item's vector is computed once. With a retrieval task (an implicit
        task under ``ranking_loss="softmax"``, or "auto" on a large catalog, scored by the
        cosine of the two vectors), each block of users is scored against the whole catalog
        in one matrix product, plus the graph filter's score (``graph_weight``; both
        standardized per user over the catalog), and the ``candidates`` best items per user
        (at least k) are then scored by ``task`` through the head; when ``task`` is the
        retrieval task itself, its top k are the answer, scored by that sum. Without one, or
        for candidate items new to fit, every (user, item) pair goes through the head. The
        head scores pairs with interaction features (those of neither side) at their neutral
        value.

        Parameters
        ----------
        users : array-like of user ids, or DataFrame
            Users to recommend for. A user not seen in fit gets the population's vector, or,
            given a DataFrame with the user id column and user-side feature columns, a vector
            from those features (and, with ``user_history``, from the items listed in
            ``history_col``). Ids never seen in fit (users, and candidate items of ``items``)
            are named, once per call, by an :class:`~skmtrec.exceptions.UnseenIdWarning`.
        k : int, default=10
            Items per user.
        exclude_seen : bool, default=True
            Leave out the items each user interacted with in fit, and those of a history given
            in the user table. A user left with fewer than k candidates gets fewer rows, and
            the call a :class:`~skmtrec.exceptions.ShortListWarning` counting such users.
        task : str, dict of {str: float} or None, default=None
            The score that ranks: a task's name, or a blend {task: weight} of the weighted sum of
            scores, where a regression task scores its predicted value (in y units) and a binary
            or implicit task its probability. ``None``: the first implicit task, else the first
            regression task, else the first binary task.
        items : DataFrame, default=None
            Candidate items instead of the catalog kept in fit: the item id column and item-side
            feature columns; items not seen in fit are scored from their features.
        explain : bool, default=False
            Add a column ``because``: the item of the user's history (kept in fit, or given in
            ``history_col``) that most supports each recommendation: the one whose absence
            lowers the item's score (a logit, for a binary or implicit task) the most beyond
            the mean it lowers the scores of the items ranked, so that an item that lifts
            every score is not the reason for all; missing for a user with no history.
            Needs ``user_history=True``. Add item names with
            :func:`skmtrec.inspection.name_items`.
        candidates : int, default=500
            With a retrieval task, the items per user that the head re-ranks when ``task``
            scores through the head (a regression or binary task, or a blend).
            More keeps more of what scoring every item through the head would give, at a cost
            that grows with it; it does not change a ranking by the retrieval task alone.
        as_arrays : bool, default=False
            Return ``(ids, scores)``, two arrays of shape (n_users, k) with a row per user in
            the order of ``users``, best first (as implicit's ``recommend``), instead of the
            long DataFrame. A user with fewer than k items (see ``exclude_seen``, or a
            catalog of fewer than k items) has a row that ends in padding: score ``-inf``,
            and as id -1 for integer ids, NaN for float ids, None for any other (the ids
            array is then of object dtype). Not with ``explain=True``.

        Returns
        -------
        recommendations : DataFrame, or tuple of two ndarrays with ``as_arrays=True``
            One row per (user, rank): the user id, ``rank`` (1 is best), the item id and
            ``score`` (and ``because`` with ``explain=True``). With ``as_arrays=True``,
            ``(ids, scores)`` as described there.

        Examples
        --------
        >>> from skmtrec import MultiTaskRecommender
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
        >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
        >>> model = model.fit(X.drop(columns="item_text"), y[["rating"]])
        >>> top = model.recommend([1, 2], k=3, explain=True)
        >>> list(top.columns)
        ['user_id', 'rank', 'item_id', 'score', 'because']
        >>> ids, scores = model.recommend([1, 2], k=3, as_arrays=True)
        >>> ids.shape, scores.shape
        ((2, 3), (2, 3))
        """
        self._check_catalog("recommend")
        if as_arrays and explain:
            raise ValueError(
                "recommend(as_arrays=True) gives ids and scores only; for the `because` column "
                "of explain=True, leave as_arrays=False."
            )
        users, items = as_pandas(users, "users"), as_pandas(items, "items")
        recommendations = self.model_.recommend(
            users,
            k,
            exclude_seen=exclude_seen,
            task=task,
            items=items,
            explain=explain,
            candidates=candidates,
            as_arrays=as_arrays,
        )
        warn_unseen("recommend", self.model_.encoder, user=users, item=items)
        return recommendations

    def similar_items(self, items, k: int = 10) -> pd.DataFrame:
        """The k catalog items whose learned vectors are closest in cosine similarity.

        The vectors are the retrieval task's item vectors where the model has one (an
        implicit task under ``ranking_loss="softmax"``), else the items' input vectors (id
        embedding, item features and history).

        Parameters
        ----------
        items : array-like of item ids, or DataFrame
            Query items; a DataFrame with the item id column and item-side features serves items
            not seen in fit from their content. Ids never seen in fit warn, once per call
            (:class:`~skmtrec.exceptions.UnseenIdWarning`).
        k : int, default=10
            Similar items per query item (the item itself is left out).

        Returns
        -------
        similar : DataFrame
            One row per (item, rank): the item id, ``rank``, ``similar_<item column>`` and
            ``similarity``.
        """
        self._check_catalog("similar_items")
        items = as_pandas(items, "items")
        similar = self.model_.similar("item", items, k)
        warn_unseen("similar_items", self.model_.encoder, item=items)
        return similar

    def similar_users(self, users, k: int = 10) -> pd.DataFrame:
        """The k users seen in fit whose learned vectors are closest in cosine similarity.

        The vectors are read as in :meth:`similar_items`: the retrieval task's user vectors
        where the model has one, else the users' input vectors (id embedding, user features
        and history).

        Parameters
        ----------
        users : array-like of user ids, or DataFrame
            Query users; a DataFrame with the user id column and user-side features serves
            users not seen in fit from their features. Ids never seen in fit warn, once per
            call (:class:`~skmtrec.exceptions.UnseenIdWarning`).
        k : int, default=10
            Similar users per query user (the user itself is left out).

        Returns
        -------
        similar : DataFrame
            One row per (user, rank): the user id, ``rank``, ``similar_<user column>`` and
            ``similarity``.

        Examples
        --------
        >>> from skmtrec import MultiTaskRecommender
        >>> from skmtrec.datasets import make_interactions
        >>> X, _ = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
        >>> model = MultiTaskRecommender({"clicked": "implicit"}, max_epochs=2, random_state=0)
        >>> model = model.fit(X[["user_id", "item_id"]])
        >>> model.similar_users([1], k=3).shape
        (3, 4)
        """
        self._check_catalog("similar_users")
        users = as_pandas(users, "users")
        similar = self.model_.similar("user", users, k)
        warn_unseen("similar_users", self.model_.encoder, user=users)
        return similar

    def score(self, X, y=None) -> float:
        """Mean over tasks of each task's default metric: R^2 (regression), accuracy (binary,
        multiclass), micro-F1 (multilabel) and NDCG@10 (implicit).

        Each task is scored on the rows where its label is present; a task with no present
        label is left out of the mean. An implicit task, whose rows are all positives, is
        scored by ranking: its rows labelled 1 (every row, where y has no column for it) are
        held-out interactions, and the score is
        ``make_ranking_scorer("ndcg", 10, relevance=(task, 1), task=task)(model, X, y)``:
        each of their users gets a top-10 list from :meth:`recommend`, ranked by the task
        and without the items the user interacted with in fit. So X must hold interactions
        that fit did not see (a validation or test split): on the rows of fit, the ranking
        part is 0. Greater is better, so this is what ``GridSearchCV`` maximizes by default.
        Use :func:`skmtrec.make_task_scorer` or
        :func:`skmtrec.metrics.make_ranking_scorer` to tune for one task. Ids never seen in
        fit warn once, as in :meth:`predict_tasks`.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit.
        y : DataFrame, array-like or None, default=None
            The labels, one column per task; ``None`` where every task is implicit.

        Returns
        -------
        score : float

        Examples
        --------
        >>> from skmtrec import MultiTaskRecommender
        >>> from skmtrec.datasets import make_interactions
        >>> X, _ = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
        >>> X = X[["user_id", "item_id"]]
        >>> model = MultiTaskRecommender({"clicked": "implicit"}, max_epochs=2, random_state=0)
        >>> 0.0 <= model.fit(X.iloc[:500]).score(X.iloc[500:]) <= 1.0
        True
        """
        check_is_fitted(self)
        frame, given = self._rows(X)
        predictions = self.model_.predict_tasks(frame, given)
        targets = targets_frame(y, len(predictions), self.tasks_)
        scores = []
        for task in self.fitted_tasks_.values():
            if task.default_metric is None:  # implicit: its rows are held-out interactions
                scorer = make_ranking_scorer("ndcg", 10, relevance=(task.name, 1), task=task.name)
                with silenced("unseen", "short"):  # warned once below, for the whole call
                    value = scorer(self, frame, targets)
                if not np.isnan(value):
                    scores.append(value)
                continue
            truth = targets[task.name]
            present = task.present(truth)
            if present.any():
                predicted = predictions[task.name].to_numpy()[present]
                scores.append(task.evaluate(task.default_metric, truth[present], predicted))
        if not scores:
            raise ValueError("y has no present label for any task: nothing to score.")
        warn_unseen("score", self.model_.encoder, user=frame, item=frame)
        return float(np.mean(scores))
