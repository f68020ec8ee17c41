"""MultiTaskRecommender: the scikit-learn estimator around the skorch multi-task net."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from functools import partial
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.model_selection import ShuffleSplit
from sklearn.utils import RegressorTags, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    GradientNormClipping,
    PassthroughScoring,
    ProgressBar,
)
from skorch.dataset import ValidSplit

from ._persistence.fitted_state import (
    FITTED_KEYS,
    check_parts,
    check_spec,
    load_history,
    read_weights,
)
from ._persistence.save_load import save, usable_device
from ._persistence.state_checks import expect_array, expect_int, expect_keys
from ._prepare.catalog import Catalog, NegativeSampler
from ._prepare.features import FeatureEncoder, as_frame
from ._prepare.given_history import split_history
from ._prepare.projection import content_projections
from ._prepare.sides import assign_sides
from ._prepare.spec import network_spec
from ._prepare.targets import check_tasks, targets_frame
from ._serving.explain import (
    ablated_inputs,
    explained_value,
    feature_groups,
    supporting_members,
)
from ._serving.onnx import encoding_spec, export_onnx
from ._serving.ranking import check_k, long_frame, ranking_weights, side_vectors, top_k
from ._serving.rows import predict_rows
from ._tasks import TASK_KINDS, SoftmaxImplicitTask, Task
from ._training.cold_copies import ColdItemCopies
from ._training.cold_item_ridge import ColdItemRidge, ItemContent
from ._training.device import check_device
from ._training.net import (
    ArrayBatchIterator,
    FiniteLoss,
    MultiTaskLoss,
    MultiTaskNet,
    TaskWeightHistory,
)
from .exceptions import TrainingInterruptedWarning
from .nn import BALANCING, HEADS, MultiTaskNetwork, RowwiseAdamW
from .nn._history import Histories

_PREDICT_BATCH_SIZE = 8192
_UNIT_PARAMETERS = ("bottom_units", "tower_units", "expert_units")
_BALANCING_LR_FACTOR = 10.0


def _is_classifier(kind) -> bool:
    return kind in TASK_KINDS and TASK_KINDS[kind].is_classifier


def _declares_classification(estimator) -> bool:
    tasks = estimator.tasks
    if tasks is None or not isinstance(tasks, Mapping):
        raise AttributeError("predict_proba needs a classification task; `tasks` declares none.")
    if not any(_is_classifier(kind) for kind in tasks.values()):
        raise AttributeError("predict_proba needs a classification task; `tasks` declares none.")
    return True


class MultiTaskRecommender(BaseEstimator):
    """Multi-task recommender: one network learns several targets of user-item interactions.

    Each row of ``X`` is an interaction: a user id, an item id and any feature columns. Each
    column of ``y`` is a task: a rating to regress, a like to classify, a category or a set of
    tags to predict, implicit feedback to rank by. A torch network (an input part of id,
    categorical and feature embeddings; a head, shared bottom, MMoE or PLE; one output per task)
    is trained through skorch on the balanced sum of the task losses; a missing label (NaN)
    drops out of its own task's loss only. Ids and categories not seen in fit map to a reserved
    embedding row, so new users and items are predicted from their features.

    Parameters
    ----------
    tasks : dict of {str: kind}, default=None
        The tasks, in output order: the name of each ``y`` column and its kind, one of
        "regression", "binary", "multiclass", "multilabel" (a list, tuple or set of labels per
        row) and "implicit" (every row is a positive; negatives are sampled). ``None`` makes
        every column of ``y`` a regression task.
    user_col, item_col : str, int or None, default="user_id", "item_id"
        The columns of X that hold user and item ids, of any hashable type. An int is a position
        (as for a 2-D array, whose columns are named by position). ``None``: no such ids.
    item_features, user_features : "auto", list of str or None, default="auto"
        Feature columns that describe the item (the user): they are mapped into the item's
        (user's) vector, next to its id embedding, so a new item or user is placed by its
        content. "auto" takes the columns that have one value per item (per user) in fit,
        items first; a list declares them (each must have one value per item or user); None
        declares none. The other features go to the shared bottom as they are.
    content_components : int or None, default=32
        A user or item side with more numeric feature columns than this (a text embedding,
        say) enters its vector through the first ``content_components`` principal components of
        those columns over the users or items in fit, each scaled to unit variance. With every
        column, the learned map singles out training items by their content, and a new item
        lands near one of them instead of among items like it (measured on MovieLens R3 with
        384-wide title embeddings: cold items rated 1.021 RMSE with every column, 1.010 with
        32 components). ``None`` keeps every column.
    item_feature_shrinkage : float or None, default=None
        How fast an item's features give way to its id as its interactions grow: the item-side
        features' term of an item with n interactions in fit is scaled by
        ``item_feature_shrinkage / (item_feature_shrinkage + n)``. A new item is placed by its
        features alone, one with many interactions mostly by its id embedding. Set it (50 is a
        good start) when item features single out each item, such as a text embedding: they
        then serve new and rare items without adding noise for well-known ones. Coarse features
        shared by many items (genres) do better unscaled, the default None.
    user_history : bool, default=True
        Describe each user also by the items of their rows in fit and the labels they gave
        them (each regression and binary task's, standardized), pooled into the user's vector
        as SVD++ and FISM do: kept as CSR arrays, pooled per batch. While training, a row's own
        item is left out of its user's history; rows of the validation split join the
        histories once training ends. A user unseen in fit has no history and gets the
        population's vector, unless X (or the user table of ``recommend``) gives one in
        ``history_col``. On a validation split of MovieLens u1.base, both histories took the
        RMSE from 0.924 to 0.904 and NDCG@10 from 0.212 to 0.244. False turns it off.
    history_col : str, default="history"
        With ``user_history``, the column of X at predict time (and of ``recommend``'s user
        table) that may give a user's history: a list, tuple, set or array of item ids per row
        (None: the history kept in fit). A given history replaces the kept one for that row;
        its items count as interacted with but unrated, and items unseen in fit are skipped.
        In fit the column is ignored: histories come from the rows.
    item_history : bool, default=True
        Describe each item also by the users of its rows in fit and the labels they gave it,
        pooled into the item's vector as the user's history is (the row's own user left out
        while training). A new item has no history: its features place it. False turns it off.
    history_sample : int or None, default=32
        While training, a user's (item's) history longer than this may be pooled from this many
        of its entries drawn at random per batch, weighted so that the pooled vector is an
        unbiased estimate of the full one: a batch then reads at most this many entries per
        user and item, so an epoch's cost grows with the rows, not with their square. Pooling
        stays exact while that reads no more than 8 times what sampling would (every
        MovieLens 100K fit), and always in predict and recommend. None: always exact.
    embedding_dim : int, default=64
        Width of the user and item id embeddings; the cap for categorical embeddings.
    architecture : {"shared_bottom", "mmoe", "ple"}, default="mmoe"
        The head between the input part and the tasks' towers. "shared_bottom": one MLP
        shared by every task (``bottom_units``). "mmoe": ``n_experts`` shared expert MLPs and a
        softmax gate per task over them (Ma et al., KDD 2018). "ple": per level, ``n_experts``
        shared and ``n_task_experts`` task-specific experts, each task gating its own and the
        shared ones, over ``n_levels`` levels (Tang et al., RecSys 2020). With uncertainty
        weighting, MMoE ranked and rated best on a validation split of MovieLens, at the cost
        of the shared bottom; PLE came close at 1.2 times the time.
    bottom_units : tuple of int, default=(128, 64)
        Hidden layer sizes of the shared bottom MLP ("shared_bottom").
    tower_units : tuple of int, default=(32,)
        Hidden layer sizes of each task's tower, before its output layer.
    n_experts : int, default=4
        Shared experts ("mmoe"), shared experts per level ("ple").
    n_task_experts : int, default=1
        Experts of each task per level ("ple").
    n_levels : int, default=1
        Extraction levels ("ple"). One level is the paper's customized gate control (CGC);
        each further level gates the one before. On MovieLens and on synthetic tasks two levels
        learned more slowly than one (more epochs to the same loss) at twice the cost.
    expert_units : tuple of int, default=(64,)
        Hidden layer sizes of each expert ("mmoe", "ple"); at least one layer.
    dropout : float, default=0.1
        Dropout after every hidden layer.
    id_dropout : float, default=0.05
        Share of user ids (and of item ids, where ``item_id_dropout`` is None) replaced by the
        unseen-id row during training, so that ids not seen in fit get a learned (population)
        embedding and the side features learn to stand in for an id. Their histories are
        dropped with them, as a user or item new to fit has none.
    item_id_dropout : float or None, default=None
        The same share for item ids; None: ``id_dropout``. Dropping more item ids than user
        ids teaches the item features (a text's embedding, say) to serve new items: before
        ``cold_item_copies``, 0.2 took R3's cold items from 2.5% to 3.9% below the baseline,
        but u1's NDCG@10 from 0.453 to 0.445 and the fit from 70 to 113 s (see the README's
        R3), so it is not the default.
    cold_item_copies : float, default=0.5
        Share of each training batch's rows trained a second time as rows of an item new to
        fit: the copy hides the item's id and history and keeps its features and labels (the
        implicit tasks' excepted), so that the item features learn to place new items while
        every original row still trains the item's id. Used only where items have features.
        On MovieLens it took new items with titles from 2.5% to 3.6% below the user-mean
        baseline (R3) and raised u1's NDCG@10 from 0.453 to 0.464, for 0.004 RMSE over R1's
        folds and a quarter more fit time (see the README). Where a small catalog's features
        single out each item, the copies can learn each training item's quirks from its
        features: on 200 synthetic items with 16 features and a per-item quirk no feature
        tells, new items were rated at RMSE 0.968 against 0.864 without (on 1,000 such items
        0.935 against 0.930). Set 0 there.
    cold_item_ridge : float, default=0.5
        Weight of a closed-form content model in each regression task's prediction for items
        new to fit (the network's weighs the rest). The model, solved in fit: the global mean,
        the user's mean offset, an item offset regressed on the item features, and a ridge
        regression per user on the same features (more than 16 numeric ones through the 16
        directions along which the users' tastes differ most), its penalties (numeric features
        and categorical ones apart) chosen on a fifth of the items held out of fit. It finds
        each user's content preferences exactly, where the network finds them through shared
        layers; on MovieLens items held out of R3's training set (titles and the year) the
        mean of the two rated new items 5.7% below the user-mean baseline where the network
        alone was 4.4% and the ridge alone 5.2% below. Where the network alone is much the
        better, the mean can cost a little: on the quickstart's synthetic items, whose text
        tells their topics, new items were rated at 0.847 RMSE against the network's 0.846.
        Used only where items have features; items seen in fit are the network's alone. 0
        turns it off. ``export_onnx`` exports the network alone.
    lr : float, default=2e-3
        Learning rate of the AdamW optimizer (``skmtrec.nn.RowwiseAdamW``: an id or history
        table with more rows than a batch reads from it is updated only in the rows read, so
        that a step costs the same however many users and items there are).
    weight_decay : float, default=2.0
        Decoupled weight decay of AdamW: each step shrinks every weight by ``lr * weight_decay``
        (0.4% with the defaults; a table row that a step did not read takes it when next read).
        Strong decay is what keeps the id embeddings from overfitting sparse interactions; on
        MovieLens 100K it gains about 0.01 RMSE over 1e-4.
    batch_size : int, default=1024
        Training batch size.
    max_epochs : int, default=50
        Most training epochs.
    negative_ratio : int, default=8
        For implicit tasks under ``ranking_loss="bce"``: sampled negatives per observed row,
        drawn afresh every epoch. On MovieLens 100K's five folds, 4 fitted in less than half
        the time of 8 and rated as well (RMSE 0.8938 against 0.8949), but ranked worse
        (NDCG@10 0.3845 against 0.3943): 4 is the faster choice, 8 the better ranker.
    ranking_loss : {"bce", "softmax"}, default="bce"
        How implicit tasks learn. "bce": binary cross-entropy of each row against
        ``negative_ratio`` sampled negatives, scored through the head like every task.
        "softmax": the cross entropy of each row's item among the whole catalog; the task is
        then scored by a dot product of the user's and the item's vectors (which is what
        makes the whole catalog affordable per batch) and skips the head.
    softmax_items : int, default=20000
        With ``ranking_loss="softmax"``, the largest catalog scored in full per batch; beyond
        it, each batch scores this many items drawn by popularity, with the logQ correction.
    patience : int or None, default=3
        Early stopping: stop after ``patience`` epochs without a lower validation loss and
        restore the best weights. ``None`` disables it.
    validation_fraction : float, default=0.1
        Share of the rows held out for the validation loss (of early stopping). 0 disables the
        validation split, and so early stopping.
    task_weights : dict of {str: float}, default=None
        Weight of each task's loss in the sum. A task not named weighs its kind's default: 3
        for "implicit" (ranking gained most from weighing more than the labels beside it), 1
        for the others. Adaptive balancing multiplies these weights by its own factors;
        validation (early stopping) always uses these weights alone, so a moving weight cannot
        fake an improvement.
    task_balancing : {"fixed", "uncertainty", "gradnorm", "dwa"}, default="uncertainty"
        How task losses are weighted while training. "fixed": ``task_weights``.
        "uncertainty": learned log-variances s, each task's loss becomes ``exp(-s) L + s``
        (Kendall et al., CVPR 2018). "gradnorm": weights learned to keep the tasks' gradient
        norms on the head's last shared layers in proportion to their training rates (Chen et
        al., ICML 2018; alpha 1.5). "dwa": weights from each task's last two epoch losses
        (Liu et al., CVPR 2019; temperature 2). The learned balancing parameters train at 10
        times ``lr`` and without weight decay, so that the weights keep up with the falling
        losses. The weights of every epoch are in ``net_.history`` as ``task_weight_<task>``.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks for the net, after the built-in ones (per-task losses, early
        stopping), e.g. ``LRScheduler`` or Optuna's ``SkorchPruningCallback``. With skorch's
        ``GradientNormClipping`` the embedding tables give dense gradients (torch's
        ``clip_grad_norm_`` cannot read sparse ones), so a step updates them whole.
    device : str, default="cpu"
        The torch device, as in skorch, e.g. ``"cuda"``.
    mixed_precision : {"auto", "bf16", "no"}, default="auto"
        "bf16" runs the network under bfloat16 autocast (losses and outputs stay float32);
        "auto" does so on a CUDA device that supports bfloat16, and not on the CPU; "no"
        never does.
    distributed : bool, default=False
        Train data-parallel over the processes that ``accelerate launch`` (or ``torchrun``)
        started, through an ``accelerate.Accelerator`` (the ``distributed`` extra): every
        process calls ``fit`` with the same data; each reads its share of every batch, the
        gradients are averaged before each step, and every process ends with the same model
        and the same history (epochs, losses, early stopping). The epoch table prints on the
        main process only. The device is the accelerator's (its GPU per process, or the CPU
        with ``device="cpu"``). With one process it trains as without.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, the validation split, shuffling and dropout; an int
        gives the same model on every fit on CPU.
    verbose : int, default=0
        0 is silent; 1 prints skorch's table of per-epoch losses (total and per task); 2 also
        shows a progress bar over each epoch's batches (skorch's ``ProgressBar``, tqdm).

    Attributes
    ----------
    tasks_ : dict of {str: str}
        The fitted tasks and their kinds, in output order.
    classes_ : dict of {str: ndarray}
        The class labels of each classification task.
    fitted_tasks_ : dict of {str: Task}
        Each task as fitted: its kind, label encoding, output width and metrics.
    net_ : MultiTaskNet
        The fitted skorch net; ``net_.history`` holds the per-epoch losses (total and per task)
        and task weights. ``net_.module_`` is the torch network.
    network_spec_ : dict
        A JSON-serializable description of the fitted network (tasks and output widths, input
        sizes and side columns, head, balancing); ``skmtrec.nn.MultiTaskNetwork(spec)`` builds
        the same network, whose weights load from ``net_.module_.state_dict()``.
    item_features_, user_features_ : list
        The feature columns folded into the item's and the user's vector.
    user_col_, item_col_ : column label or None
        The id columns of X, as labels.
    user_ids_, item_ids_ : pandas.Index or None
        The user and item ids seen in fit (None without that id column).
    n_features_in_ : int
        Number of columns of X in fit, the id columns included.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of X in fit, when all are strings.

    See Also
    --------
    skmtrec.make_task_scorer : a scorer for one task's metric, for ``scoring=``.

    Examples
    --------
    >>> from skmtrec import MultiTaskRecommender
    >>> from skmtrec.datasets import make_interactions
    >>> X, y = make_interactions(n_users=200, n_items=100, n_interactions=4000, random_state=0)
    >>> model = MultiTaskRecommender(
    ...     tasks={"rating": "regression", "like": "binary", "category": "multiclass"},
    ...     architecture="mmoe", task_balancing="uncertainty", max_epochs=5, random_state=0,
    ... )
    >>> model.fit(X.drop(columns="item_text"), y).predict_tasks(X.drop(columns="item_text")).shape
    (4000, 3)
    """

    _parameter_constraints: dict = {
        "tasks": [Mapping, None],
        "user_col": [str, Integral, None],
        "item_col": [str, Integral, None],
        "item_features": [StrOptions({"auto"}), list, tuple, None],
        "user_features": [StrOptions({"auto"}), list, tuple, None],
        "content_components": [Interval(Integral, 1, None, closed="left"), None],
        "item_feature_shrinkage": [Interval(Real, 0, None, closed="left"), None],
        "user_history": ["boolean"],
        "history_col": [str],
        "item_history": ["boolean"],
        "history_sample": [Interval(Integral, 1, None, closed="left"), None],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions(set(HEADS))],
        "bottom_units": [tuple, list],
        "tower_units": [tuple, list],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "n_task_experts": [Interval(Integral, 1, None, closed="left")],
        "n_levels": [Interval(Integral, 1, None, closed="left")],
        "expert_units": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "id_dropout": [Interval(Real, 0, 1, closed="left")],
        "item_id_dropout": [Interval(Real, 0, 1, closed="left"), None],
        "cold_item_copies": [Interval(Real, 0, 1, closed="both")],
        "cold_item_ridge": [Interval(Real, 0, 1, closed="both")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "negative_ratio": [Interval(Integral, 1, None, closed="left")],
        "ranking_loss": [StrOptions({"bce", "softmax"})],
        "softmax_items": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "task_weights": [Mapping, None],
        "task_balancing": [StrOptions(set(BALANCING))],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "mixed_precision": [StrOptions({"auto", "bf16", "no"})],
        "distributed": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        tasks=None,
        *,
        user_col="user_id",
        item_col="item_id",
        item_features="auto",
        user_features="auto",
        content_components=32,
        item_feature_shrinkage=None,
        user_history=True,
        history_col="history",
        item_history=True,
        history_sample=32,
        embedding_dim=64,
        architecture="mmoe",
        bottom_units=(128, 64),
        tower_units=(32,),
        n_experts=4,
        n_task_experts=1,
        n_levels=1,
        expert_units=(64,),
        dropout=0.1,
        id_dropout=0.05,
        item_id_dropout=None,
        cold_item_copies=0.5,
        cold_item_ridge=0.5,
        lr=2e-3,
        weight_decay=2.0,
        batch_size=1024,
        max_epochs=50,
        negative_ratio=8,
        ranking_loss="bce",
        softmax_items=20_000,
        patience=3,
        validation_fraction=0.1,
        task_weights=None,
        task_balancing="uncertainty",
        callbacks=None,
        device="cpu",
        mixed_precision="auto",
        distributed=False,
        random_state=None,
        verbose=0,
    ):
        self.tasks = tasks
        self.user_col = user_col
        self.item_col = item_col
        self.item_features = item_features
        self.user_features = user_features
        self.content_components = content_components
        self.item_feature_shrinkage = item_feature_shrinkage
        self.user_history = user_history
        self.history_col = history_col
        self.item_history = item_history
        self.history_sample = history_sample
        self.embedding_dim = embedding_dim
        self.architecture = architecture
        self.bottom_units = bottom_units
        self.tower_units = tower_units
        self.n_experts = n_experts
        self.n_task_experts = n_task_experts
        self.n_levels = n_levels
        self.expert_units = expert_units
        self.dropout = dropout
        self.id_dropout = id_dropout
        self.item_id_dropout = item_id_dropout
        self.cold_item_copies = cold_item_copies
        self.cold_item_ridge = cold_item_ridge
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.negative_ratio = negative_ratio
        self.ranking_loss = ranking_loss
        self.softmax_items = softmax_items
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.task_weights = task_weights
        self.task_balancing = task_balancing
        self.callbacks = callbacks
        self.device = device
        self.mixed_precision = mixed_precision
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.input_tags.categorical = True
        tasks = self.tasks
        if tasks is None or (
            isinstance(tasks, Mapping) and not any(_is_classifier(k) for k in tasks.values())
        ):
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    # -- fit -----------------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the network on interactions ``X`` and task labels ``y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions: the user and item id columns and feature columns. Categorical columns
            (object, category, bool) become embeddings; numeric columns are standardized.
        y : DataFrame, Series or array-like of shape (n_samples,) or (n_samples, n_tasks)
            One column per task, named as in ``tasks``. NaN (or None) marks a missing label.
            An implicit task needs no column (every row of X is a positive), so a model of
            implicit tasks only is fitted with ``y=None``.

        Returns
        -------
        self : MultiTaskRecommender
            The fitted estimator.

        Raises
        ------
        FloatingPointError
            When the training loss becomes NaN or infinite (lower ``lr``).

        Notes
        -----
        The fitted state changes only once training has succeeded: after an error, a fitted
        model predicts as before. A ``KeyboardInterrupt`` after the first epoch ends training
        with a warning and keeps what was learned (with early stopping, the best epoch's
        weights); in the first epoch it propagates and nothing changes.
        """
        declared = check_tasks(self.tasks)
        head = self._head_params()
        _check_callbacks(self.callbacks)
        check_device(self.device)
        if self.user_history and isinstance(X, pd.DataFrame) and self.history_col in X:
            X = X.drop(columns=self.history_col)
        frame = self._check_X(X, reset=None)
        targets = targets_frame(y, len(frame), declared)
        kinds = declared or {name: "regression" for name in targets.columns}
        tasks = [self._task(name, kind).fit(targets[name]) for name, kind in kinds.items()]
        weights = self._task_weights(tasks)
        y_encoded = np.hstack([task.encode(targets[task.name]) for task in tasks])
        encoder = FeatureEncoder(self.user_col, self.item_col).fit(frame)
        inputs = encoder.transform(frame)
        sides = assign_sides(encoder, inputs, self.item_features, self.user_features)
        catalog = (
            Catalog.from_inputs(inputs, encoder.n_users, encoder.n_items)
            if "user" in inputs and "item" in inputs
            else None
        )
        balancing = {"method": self.task_balancing, "task_weights": weights}
        histories = {}
        if catalog is not None:
            histories = self._histories(tasks, inputs, y_encoded, encoder)
        spec = network_spec(tasks, encoder, sides, self._input_params(histories), head, balancing)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        split = self._validation_split(len(frame))
        rows = _train_rows(len(frame), split, seed) if histories else None
        train_histories = {role: h.arrays(rows) for role, h in histories.items()} or None
        accelerator = _accelerator(self.device) if self.distributed else None
        # with several processes, only the main one prints
        verbose = self.verbose if accelerator is None or accelerator.is_main_process else 0
        module_state = self._module_state(spec, catalog, inputs)
        processes = 1 if accelerator is None else accelerator.num_processes
        net = self._make_net(
            spec, tasks, catalog, module_state, split, seed, train_histories, verbose, processes
        )
        if accelerator is not None:
            net.set_params(accelerator=accelerator, device=accelerator.device)
        with torch.random.fork_rng(devices=_cuda_devices(net.device)):
            torch.manual_seed(seed)
            net.fit(inputs, y_encoded)
        if accelerator is not None:  # a fitted model of its own, which pickles
            net.set_params(accelerator=None, verbose=self.verbose)
        if net.interrupted:
            _after_interrupt(net.completed_epochs)
        if histories and split is not None:  # the validation rows join
            net.module_.set_history({role: h.arrays() for role, h in histories.items()})
        ridges = self._cold_item_ridges(tasks, targets, inputs, spec, encoder, seed)

        # Fitted state changes only now, so a fit that fails leaves the last model intact.
        validate_data(self, frame, reset=True, skip_check_array=True)
        self._set_fitted(net, spec, kinds, tasks, encoder, catalog, ridges)
        return self

    def _set_fitted(self, net, spec, kinds, tasks, encoder, catalog, ridges) -> None:
        self.net_ = net
        self.network_spec_ = spec
        self.tasks_ = kinds
        self.fitted_tasks_ = {task.name: task for task in tasks}
        self.classes_ = {task.name: task.classes for task in tasks if task.is_classifier}
        self.item_features_ = spec["features"]["item"]
        self.user_features_ = spec["features"]["user"]
        self.user_col_ = encoder.user_label
        self.item_col_ = encoder.item_label
        self.user_ids_ = None if encoder.user_codes is None else encoder.user_codes.values
        self.item_ids_ = None if encoder.item_codes is None else encoder.item_codes.values
        self._encoder = encoder
        self._catalog = catalog
        self._cold_ridges = ridges

    def _task(self, name: str, kind: str):
        if kind == "implicit" and self.ranking_loss == "softmax":
            if self.task_balancing == "gradnorm":
                raise ValueError(
                    f"task_balancing='gradnorm' measures gradients on the head's last shared "
                    f"layer, which task {name!r} does not reach under ranking_loss='softmax' "
                    "(it is scored by a dot product of the user and item vectors); choose "
                    "another balancing or ranking_loss='bce'."
                )
            return SoftmaxImplicitTask(name, self.softmax_items)
        return TASK_KINDS[kind](name)

    def _input_params(self, histories: dict) -> dict:
        values = {h.n_values for h in histories.values()}
        return {
            "embedding_dim": self.embedding_dim,
            "id_dropout": {
                "user": self.id_dropout,
                "item": self.id_dropout if self.item_id_dropout is None else self.item_id_dropout,
            },
            "item_feature_shrinkage": self.item_feature_shrinkage,
            "content_components": self.content_components,
            "history_values": values.pop() if values else None,
            "history_sides": list(histories),
            "history_sample": self.history_sample,
        }

    def _histories(self, tasks, inputs, y_encoded, encoder) -> dict[str, Histories]:
        """{side: histories} of the sides that keep one, with the labels of the tasks a
        history keeps, standardized (0 where missing)."""
        if not (self.user_history or self.item_history):
            return {}
        kept = [c for c, task in zip(_first_columns(tasks), tasks, strict=True) if task.in_history]
        values = y_encoded[:, kept].astype(np.float64)
        with np.errstate(invalid="ignore"):
            mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        values = np.nan_to_num((values - mean) / np.where(std > 0, std, 1.0), nan=0.0)
        users = Histories(inputs["user"], inputs["item"], values, encoder.n_users, encoder.n_items)
        histories = {"user": users, "item": users.transposed()}
        wanted = {"user": self.user_history, "item": self.item_history}
        return {role: h for role, h in histories.items() if wanted[role]}

    def _head_params(self) -> dict:
        """The arguments of the head chosen by ``architecture``: the parameters its class
        names. Every layer-size parameter is checked, used by this head or not."""
        units = {name: _units(name, getattr(self, name)) for name in _UNIT_PARAMETERS}
        params = {"architecture": self.architecture}
        for name in HEADS[self.architecture].hyperparameters:
            params[name] = units[name] if name in units else getattr(self, name)
        return params

    def _module_state(self, spec, catalog, inputs) -> dict:
        """The network's arguments that are data of fit rather than shape: per-item counts,
        the catalog a softmax trains against, content projections (see MultiTaskNetwork)."""
        counts = None
        if "item" in inputs:
            counts = np.bincount(inputs["item"], minlength=spec["inputs"]["n_items"] + 1)
        item_table = None
        if any(t.get("scorer") == "dot" for t in spec["tasks"]):
            item_table = {
                "numeric": catalog.item_numeric,
                "categorical": catalog.item_categorical,
                "counts": counts,
            }
        return {
            "item_counts": counts if self.item_feature_shrinkage is not None else None,
            "item_table": item_table,
            "content_projections": content_projections(
                inputs, spec["inputs"]["sides"], self.content_components
            ),
        }

    def _make_net(
        self, spec, tasks, catalog, module_state, split, seed, histories, verbose, processes
    ) -> MultiTaskNet:
        """The skorch net that trains the network of ``spec`` (with ``module_state``, the
        histories of the training rows) in ``processes`` data-parallel processes, printing at
        ``verbose``."""
        negatives = self._negative_sampler(tasks, catalog, spec["inputs"]["sides"])
        names = [task.name for task in tasks]
        return MultiTaskNet(
            module=MultiTaskNetwork,
            module__spec=spec,
            module__history=histories,
            **{f"module__{name}": value for name, value in module_state.items()},
            criterion=MultiTaskLoss,
            criterion__losses=[task.loss for task in tasks],
            criterion__widths=[task.n_targets for task in tasks],
            task_names=names,
            autocast=_autocast_dtype(self.mixed_precision, self.device),
            # tables with more rows than a batch reads give sparse gradients and are updated in
            # the rows read only, so that a step's cost does not grow with them (RowwiseAdamW);
            # with several processes, gradients are summed whole: dense
            module__sparse_above=(
                self._batch_rows(negatives)
                if processes == 1 and not self._clips_gradients()
                else None
            ),
            optimizer=RowwiseAdamW,
            optimizer__weight_decay=self.weight_decay,
            # The balancing's own parameters (log-variances, GradNorm's logits) are not decayed,
            # and move faster than the network: their optimum follows the falling task losses,
            # and at the network's rate it trailed by tens of epochs (a task weight of 1.0 where
            # its loss called for 2.7 on MovieLens R4); at 10x every R4 task gained.
            optimizer__param_groups=[
                ("balancing.*", {"weight_decay": 0.0, "lr": self.lr * _BALANCING_LR_FACTOR}),
                # a softmax's dot products must be free to sharpen against the decayed vectors
                ("dot.*", {"weight_decay": 0.0}),
            ],
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            iterator_train=ArrayBatchIterator,
            iterator_train__shuffle=True,
            iterator_train__negatives=negatives,
            iterator_train__cold_copies=self._cold_item_copies(tasks, spec),
            iterator_valid=ArrayBatchIterator,
            iterator_valid__negatives=negatives,
            iterator_valid__batch_size=max(self.batch_size, _PREDICT_BATCH_SIZE),
            train_split=None if split is None else ValidSplit(split, random_state=seed),
            callbacks=self._callbacks(names, with_validation=split is not None, verbose=verbose),
            device=self.device,
            verbose=verbose,
        )

    def _clips_gradients(self) -> bool:
        """Whether a callback clips gradient norms: torch's ``clip_grad_norm_`` cannot read
        sparse gradients, so the tables then give dense ones."""
        callbacks = [c[1] if isinstance(c, tuple) else c for c in self.callbacks or ()]
        return any(isinstance(c, GradientNormClipping) for c in callbacks)

    def _batch_rows(self, negatives: NegativeSampler | None) -> int:
        """The rows a training batch holds, its sampled negatives included."""
        return self.batch_size * (1 + (self.negative_ratio if negatives is not None else 0))

    def _check_X(self, X, *, reset: bool | None) -> pd.DataFrame:
        """X as a DataFrame, checked; ``reset=None`` checks without touching fitted state."""
        frame = as_frame(X)
        if reset is not None:
            validate_data(self, frame, reset=reset, skip_check_array=True)
        if frame.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={frame.shape}) while a minimum of 1 is "
                "required."
            )
        if frame.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={frame.shape}) while a minimum of 1 is "
                "required: X needs at least an id or a feature column."
            )
        return frame

    def _task_weights(self, tasks: list[Task]) -> list[float]:
        weights = dict(self.task_weights or {})
        names = [task.name for task in tasks]
        unknown = [name for name in weights if name not in names]
        if unknown:
            raise ValueError(
                f"`task_weights` names {unknown}, which are not tasks; tasks are {names}."
            )
        for name, w in weights.items():
            if not (isinstance(w, Real) and np.isfinite(w) and w >= 0):
                raise ValueError(
                    f"`task_weights[{name!r}]` must be a finite number >= 0; got {w!r}."
                )
        return [float(weights.get(task.name, task.default_weight)) for task in tasks]

    def _negative_sampler(self, tasks, catalog, sides) -> NegativeSampler | None:
        if catalog is None and any(task.implied_by_rows for task in tasks):
            name = next(task.name for task in tasks if task.implied_by_rows)
            raise ValueError(
                f"Task {name!r} is 'implicit': ranking items needs user and item ids; set "
                "`user_col` and `item_col`."
            )
        columns = zip(_first_columns(tasks), tasks, strict=True)
        implicit = [c for c, task in columns if task.samples_negatives]
        if not implicit:
            return None
        item_side = sides.get("item", {})
        return NegativeSampler(
            catalog,
            self.negative_ratio,
            implicit,
            tuple(item_side.get("numeric", ())),
            tuple(item_side.get("categorical", ())),
        )

    def _cold_item_copies(self, tasks, spec) -> ColdItemCopies | None:
        item_side = spec["inputs"]["sides"].get("item", {})
        has_features = bool(item_side.get("numeric") or item_side.get("categorical"))
        # without item features a copy is the unseen-item row again: nothing to teach, and on
        # the quickstart's data it cost known items 0.05 RMSE
        if not (self.cold_item_copies > 0 and spec["inputs"]["n_items"] and has_features):
            return None
        columns = zip(_first_columns(tasks), tasks, strict=True)
        return ColdItemCopies(
            self.cold_item_copies, [c for c, task in columns if task.implied_by_rows]
        )

    def _cold_item_ridges(self, tasks, targets, inputs, spec, encoder, seed) -> dict:
        """{task: ColdItemRidge} of the regression tasks, where ``cold_item_ridge`` is on and
        there are users, items and item features."""
        item_side = spec["inputs"]["sides"].get("item", {})
        numeric, categorical = item_side.get("numeric", []), item_side.get("categorical", [])
        if not (self.cold_item_ridge > 0 and "user" in inputs and "item" in inputs):
            return {}
        levels = [encoder.cardinalities[c] for c in categorical]
        # each ridge fits its own content: the taste directions depend on the task's values
        content = partial(ItemContent, numeric, categorical, levels)
        if content().width == 1:
            return {}  # no item feature it can use: a new item is the mean's
        return {
            task.name: ColdItemRidge(content(), encoder.n_users).fit(
                inputs, task.encode(targets[task.name])[:, 0].astype(np.float64), seed
            )
            for task in tasks
            if task.kind == "regression"
        }

    def _validation_split(self, n_samples: int) -> float | None:
        if self.validation_fraction == 0:
            return None
        if int(n_samples * self.validation_fraction) < 1 or n_samples < 2:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no validation row with "
                f"n_samples={n_samples}; raise it or set validation_fraction=0."
            )
        return self.validation_fraction

    def _callbacks(self, names: list[str], *, with_validation: bool, verbose: int) -> list:
        callbacks = [("finite_loss", FiniteLoss(self.lr))]
        if verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))
        for name in names:
            callbacks.append(
                (f"train_{name}_loss", PassthroughScoring(f"train_{name}_loss", None, True))
            )
            if with_validation:
                callbacks.append(
                    (f"valid_{name}_loss", PassthroughScoring(f"valid_{name}_loss", None))
                )
        callbacks.append(("task_weights", TaskWeightHistory(names)))
        if with_validation and self.patience is not None:
            early = EarlyStopping(
                monitor="valid_loss",
                patience=self.patience,
                load_best=True,
                sink=print if verbose else _silent,
            )
            callbacks.append(("early_stopping", early))
        return callbacks + list(self.callbacks or [])

    # -- predict -------------------------------------------------------------------------------

    @property
    def _task_list(self) -> list:
        return list(self.fitted_tasks_.values())

    def _given_histories(self, X):
        """X without the history column, and the histories it gives (None: none)."""
        inputs = self.network_spec_["inputs"]
        serves = inputs["history_values"] is not None and "user" in inputs["history_sides"]
        if not (serves and isinstance(X, pd.DataFrame)):
            return X, None
        return split_history(X, self.history_col, self._encoder.item_codes)

    @contextmanager
    def _serving(self, inputs: dict, given):
        """``inputs`` as the network reads them while the ``given`` histories are served: a
        row that gives one reads it under its own code (``history_user``)."""
        if given is None:
            yield inputs
            return
        with self.net_.module_.extended_history(given.items) as first:
            yield {**inputs, "history_user": given.owners(inputs["user"], first)}

    def _raw_outputs(self, X) -> list[np.ndarray]:
        return self._coded_outputs(X)[1]

    def _coded_outputs(self, X) -> tuple[dict, list[np.ndarray]]:
        """The coded rows of X and the network's raw outputs for them."""
        check_is_fitted(self)
        module = self.net_.module_
        # rows scored from their distinct users' and items' vectors; the batched forward where
        # a side is missing or autocast runs (the factored layers would mix precisions)
        by_rows = len(module.inputs.sides) == 2 and self.net_.autocast is None
        X, given = self._given_histories(X)
        coded = self._encoder.transform(self._check_X(X, reset=False), row_major=not by_rows)
        with self._serving(coded, given) as inputs, module.pooled_histories():
            if by_rows:
                return coded, predict_rows(module, inputs, self.net_.device)
            outputs = self.net_.forward(inputs)
        return coded, [out.numpy() for out in outputs]

    def predict_tasks(self, X) -> pd.DataFrame:
        """Predict every task, as a DataFrame with one named column per task.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit. Unseen ids are predicted from the features.

        Returns
        -------
        predictions : DataFrame of shape (n_samples, n_tasks)
            Values for regression tasks, class labels for classification tasks; the index is
            X's index when X is a DataFrame.
        """
        coded, raw = self._coded_outputs(X)
        outputs = dict(zip(self.tasks_, raw, strict=True))
        new = coded["item"] == 0 if self._cold_ridges else None
        if new is not None and new.any():
            rows = {key: values[new] for key, values in coded.items()}
            for name, ridge in self._cold_ridges.items():
                blended = outputs[name].reshape(-1).astype(np.float64)
                blended[new] += self.cold_item_ridge * (ridge.predict(rows) - blended[new])
                outputs[name] = blended
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(
            {t.name: t.decode(outputs[t.name]) for t in self._task_list}, index=index
        )

    def predict(self, X) -> np.ndarray:
        """Predict every task.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_tasks)
            One column per task in the order of ``tasks_`` (1-D for a single task): values for
            regression, class labels for classification. Use :meth:`predict_tasks` for named
            columns.
        """
        predictions = self.predict_tasks(X)
        if predictions.shape[1] == 1:
            return predictions.iloc[:, 0].to_numpy()
        return predictions.to_numpy()

    @available_if(_declares_classification)
    def predict_proba(self, X, task: str | None = None):
        """Class probabilities of the classification tasks.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit.
        task : str, default=None
            The classification task to return. ``None`` returns the only classification task,
            or a dict {task: probabilities} when there are several.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or dict of such arrays
            Columns follow ``classes_[task]``.
        """
        check_is_fitted(self)
        names = [t.name for t in self._task_list if t.is_classifier]
        if task is not None and task not in names:
            raise ValueError(f"task={task!r} is not a classification task; choose from {names}.")
        wanted = [task] if task is not None else names
        raw = self._raw_outputs(X)
        probas = {
            t.name: t.proba(out)
            for t, out in zip(self._task_list, raw, strict=True)
            if t.name in wanted
        }
        return probas if len(probas) > 1 else probas[wanted[0]]

    # -- recommending ---------------------------------------------------------------------------

    def explain(self, X, task: str | None = None) -> pd.DataFrame:
        """How much each input group moves a task's prediction, row by row.

        A group's contribution is the prediction minus the prediction with that group taken
        away (an ablation): the user or item id at the unseen code (its history kept), the
        user's or item's history left empty, a numeric feature at its fit mean, a categorical
        one unknown. Numeric columns named ``<name>_<k>`` sharing a ``<name>``, as
        :class:`SentenceEmbedder` names a text's embedding, count as the one group
        ``<name>``. Contributions are not additive: groups that act together (an id and its
        history) can each be small where taking both away would not be. What is explained is
        the network: for an item new to fit, ``predict`` also weighs the content model of
        ``cold_item_ridge`` into a regression task's value, and that part is not ablated.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit (and ``history_col``, where a user gives a
            history).
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
        position, explained = list(self.fitted_tasks_).index(task), self.fitted_tasks_[task]
        X_rows, given = self._given_histories(X)
        encoded = self._encoder.transform(self._check_X(X_rows, reset=False))
        encoder = self._encoder
        groups = feature_groups(encoder.numeric_labels, encoder.categorical_labels)
        id_names = {"user": str(encoder.user_label), "item": str(encoder.item_label)}
        history_sides = self.network_spec_["inputs"]["history_sides"]
        with self._serving(encoded, given) as inputs, self.net_.module_.pooled_histories():
            full = self.net_.forward(inputs)[position].numpy()
            classes = None
            if explained.is_classifier and explained.kind not in ("binary", "implicit"):
                classes = explained.proba(full).argmax(axis=1)
            value = explained_value(explained, full, classes)
            contributions = {
                name: value
                - explained_value(explained, self.net_.forward(ablated)[position].numpy(), classes)
                for name, ablated in ablated_inputs(inputs, id_names, history_sides, groups).items()
            }
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(contributions, index=index)

    def _entities(self, role: str, given) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Ids and encoded inputs of users or items: ids (side features from the catalog; new
        ids get the population's) or a DataFrame with the id column and side features."""
        encoder, catalog = self._encoder, self._catalog
        label = encoder.user_label if role == "user" else encoder.item_label
        codebook = encoder.user_codes if role == "user" else encoder.item_codes
        if isinstance(given, pd.DataFrame):
            if label not in given:
                raise ValueError(f"The {role} table has no {role} id column {label!r}.")
            ids = given[label].to_numpy()
            inputs = encoder.transform_features(encoder.complete(given))
        else:
            ids = np.atleast_1d(np.asarray(given))
            codes = codebook.transform(pd.Series(ids))
            table = (
                (catalog.user_numeric, catalog.user_categorical)
                if role == "user"
                else (catalog.item_numeric, catalog.item_categorical)
            )
            inputs = {"numeric": table[0][codes], "categorical": table[1][codes]}
        if len(ids) == 0:
            raise ValueError(f"The {role} table is empty: give at least one {role}.")
        missing = pd.isna(ids)
        if missing.any():
            raise ValueError(
                f"The {role} ids include a missing value ({ids[missing.argmax()]} at position "
                f"{int(missing.argmax())}); every {role} needs an id."
            )
        inputs[role] = codebook.transform(pd.Series(ids)).astype(np.int64)
        return ids, inputs

    def _check_catalog(self, method: str) -> None:
        check_is_fitted(self)
        if self._catalog is None:
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
    ) -> pd.DataFrame:
        """Top-k items for each user, scored over the whole catalog in vectorized batches.

        Each user's and item's vector is computed once; every (user, item) pair then goes through
        the shared bottom and the towers, with interaction features (those of neither side) at
        their neutral value.

        Parameters
        ----------
        users : array-like of user ids, or DataFrame
            Users to recommend for. A user not seen in fit gets the population's vector, or,
            given a DataFrame with the user id column and user-side feature columns, a vector
            from those features (and, with ``user_history``, from the items listed in
            ``history_col``).
        k : int, default=10
            Items per user.
        exclude_seen : bool, default=True
            Leave out the items each user interacted with in fit, and those of a history given
            in the user table.
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
            ``history_col``) that most supports each recommendation, the one whose absence from
            the history lowers the item's score the most; missing for a user with no history.
            Needs ``user_history=True``.

        Returns
        -------
        recommendations : DataFrame
            One row per (user, rank): the user id, ``rank`` (1 is best), the item id and
            ``score`` (and ``because`` with ``explain=True``).

        Examples
        --------
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=50, n_items=30, n_interactions=600, random_state=0)
        >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
        >>> model = model.fit(X.drop(columns="item_text"), y[["rating"]])
        >>> top = model.recommend([1, 2], k=3, explain=True)
        >>> list(top.columns)
        ['user_id', 'rank', 'item_id', 'score', 'because']
        """
        self._check_catalog("recommend")
        k = check_k(k)
        weights = ranking_weights(self._task_list, task)
        module, device = self.net_.module_, self.net_.device
        module.eval()
        users, given = self._given_histories(users)
        user_ids, user_inputs = self._entities("user", users)
        if items is None:
            item_ids = self._encoder.item_codes.values.to_numpy()
            codes = np.arange(1, len(item_ids) + 1)
            item_inputs = {
                "item": codes,
                "numeric": self._catalog.item_numeric[codes],
                "categorical": self._catalog.item_categorical[codes],
            }
        else:
            item_ids, item_inputs = self._entities("item", items)
        seen = self._catalog.seen[user_inputs["user"]]
        if given is not None:
            seen = seen + given.seen(len(user_ids), self._catalog.n_items)
        seen = seen[:, item_inputs["item"]]

        def exclude(rows: slice):
            return seen[rows].toarray() if exclude_seen else None

        if explain and "user" not in self.network_spec_["inputs"]["history_sides"]:
            raise ValueError(
                "recommend(explain=True) names the history item behind each recommendation, "
                "so it needs the users' histories: fit with user_history=True."
            )
        width = (user_inputs["numeric"].shape[1], user_inputs["categorical"].shape[1])
        item_vectors = side_vectors(module, "item", item_inputs, device)
        with self._serving(user_inputs, given) as inputs:
            user_vectors = side_vectors(module, "user", inputs, device)
            positions, scores = top_k(
                module,
                self._task_list,
                weights,
                user_vectors,
                item_vectors,
                k,
                exclude,
                width,
                device,
            )
            if explain:
                because = supporting_members(
                    module, self._task_list, weights, inputs, positions, item_vectors, width, device
                )
        frame = long_frame(
            user_ids,
            item_ids,
            positions,
            scores,
            self._encoder.user_label,
            self._encoder.item_label,
        )
        if explain:
            catalog = self._encoder.item_codes.values
            named = pd.Series(catalog.take(np.maximum(because.reshape(-1) - 1, 0)), dtype=object)
            named[because.reshape(-1) < 1] = None
            allowed = scores.reshape(-1) > -np.inf
            frame["because"] = named[allowed].to_numpy()
        return frame

    def similar_items(self, items, k: int = 10) -> pd.DataFrame:
        """The k catalog items whose learned vectors (id embedding and item features) are
        closest in cosine similarity.

        Parameters
        ----------
        items : array-like of item ids, or DataFrame
            Query items; a DataFrame with the item id column and item-side features serves items
            not seen in fit from their content.
        k : int, default=10
            Similar items per query item (the item itself is left out).

        Returns
        -------
        similar : DataFrame
            One row per (item, rank): the item id, ``rank``, ``similar_<item column>`` and
            ``similarity``.
        """
        self._check_catalog("similar_items")
        k = check_k(k)
        module, device = self.net_.module_, self.net_.device
        module.eval()
        catalog_ids = self._encoder.item_codes.values.to_numpy()
        codes = np.arange(1, len(catalog_ids) + 1)
        catalog_vectors = side_vectors(
            module,
            "item",
            {
                "item": codes,
                "numeric": self._catalog.item_numeric[codes],
                "categorical": self._catalog.item_categorical[codes],
            },
            device,
        )
        query_ids, query_inputs = self._entities("item", items)
        queries = side_vectors(module, "item", query_inputs, device)
        with torch.no_grad():
            a = torch.nn.functional.normalize(queries, dim=1)
            b = torch.nn.functional.normalize(catalog_vectors, dim=1)
            similarity = a @ b.T
            itself = torch.as_tensor(query_inputs["item"], device=device)
            rows = torch.nonzero(itself > 0).squeeze(1)
            similarity[rows, itself[rows] - 1] = -torch.inf
            values, positions = torch.topk(similarity, min(k, len(catalog_ids)), dim=1)
        label = self._encoder.item_label
        frame = long_frame(
            query_ids,
            catalog_ids,
            positions.cpu().numpy(),
            values.cpu().numpy(),
            label,
            f"similar_{label}",
        )
        return frame.rename(columns={"score": "similarity"})

    def score(self, X, y) -> float:
        """Mean over tasks of each task's default metric: R^2 (regression), accuracy (binary,
        multiclass) and micro-F1 (multilabel).

        Each task is scored on the rows where its label is present; a task with no present
        label is left out of the mean. Greater is better, so this is what ``GridSearchCV``
        maximizes by default. Use :func:`skmtrec.make_task_scorer` to tune for one task.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        predictions = self.predict_tasks(X)
        targets = targets_frame(y, len(predictions), self.tasks_)
        scores = []
        for task in self._task_list:
            if task.default_metric is None:  # implicit: observed rows are all positives
                continue
            truth = targets[task.name]
            present = task.present(truth)
            if present.any():
                predicted = predictions[task.name].to_numpy()[present]
                scores.append(task.evaluate(task.default_metric, truth[present], predicted))
        if not scores:
            raise ValueError("y has no present label for any task: nothing to score.")
        return float(np.mean(scores))

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Save the model to the folder ``path`` without pickle: JSON, NumPy arrays and
        safetensors weights, loaded back by :func:`skmtrec.load`.

        ``estimator.json`` holds the parameters, ``network_spec_``, the task encodings, the id
        and category vocabularies, a format version and the size and digest of every other
        file; ``arrays.npz`` the catalog, the histories and other arrays;
        ``weights.safetensors`` the network's weights and ``history.json`` its training
        history. The folder is written beside ``path`` and swapped in at once, so an
        interrupted save leaves an earlier model there as it was.

        Parameters
        ----------
        path : str or path-like
            A folder: new, empty, or holding a model an earlier save wrote (it is replaced).

        Returns
        -------
        path : Path
            The folder.

        Raises
        ------
        TypeError
            When ``callbacks`` holds callbacks: they are code, which a safe file cannot hold.
            Save with ``callbacks=None`` and set them again after loading.

        Examples
        --------
        >>> import tempfile, skmtrec
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=30, n_items=20, n_interactions=300, random_state=0)
        >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
        >>> folder = model.fit(X, y[["rating"]]).save(tempfile.mkdtemp())
        >>> len(skmtrec.load(folder).recommend(X[["user_id"]].head(1), k=3))
        3
        """
        return save(self, path)

    def export_onnx(self, path) -> Path:
        """Export the network's scoring path as ONNX, for serving outside Python.

        The graph's inputs are integer-coded rows: ``numeric`` (float32, each column
        standardized with its fit mean and scale), ``categorical`` (int64 codes) and ``user``
        and ``item`` (int64 codes), each with the batch as first dimension. A code is the
        position of the value in its vocabulary plus 1, and 0 for a value not seen in fit.
        The outputs, one per task named as the task, are what ``predict`` (regression) and
        ``predict_proba`` give: a value in y units, the probability of ``classes_[task][1]``
        (binary, implicit), the probabilities of ``classes_[task]`` (multiclass, multilabel).
        Histories are pooled once, at export: the graph serves the histories kept in fit,
        not one given at predict time.

        Beside the graph, ``<path>.json`` (same name, ``.json``) holds the vocabularies, the
        numeric columns' means and scales, and the tasks' kinds and classes, as plain JSON:
        what a serving process in any language needs to code a row. ``onnx_inputs`` codes a
        DataFrame the same way.

        Parameters
        ----------
        path : str or path-like
            The ``.onnx`` file to write.

        Returns
        -------
        path : Path

        Examples
        --------
        >>> import tempfile, onnxruntime
        >>> from skmtrec.datasets import make_interactions
        >>> X, y = make_interactions(n_users=30, n_items=20, n_interactions=300, random_state=0)
        >>> X = X.drop(columns="item_text")
        >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
        >>> path = model.fit(X, y[["rating"]]).export_onnx(tempfile.mkdtemp() + "/model.onnx")
        >>> session = onnxruntime.InferenceSession(path)
        >>> (rating,) = session.run(None, model.onnx_inputs(X.head(3)))
        >>> bool(abs(rating - model.predict(X.head(3))).max() < 1e-4)
        True
        """
        check_is_fitted(self)
        encoding = encoding_spec(self._encoder, self._task_list)
        return export_onnx(self.net_.module_, self.network_spec_, self._task_list, encoding, path)

    def onnx_inputs(self, X) -> dict[str, np.ndarray]:
        """The rows of ``X`` coded as the inputs of the graph ``export_onnx`` writes.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Interactions with the columns of fit.

        Returns
        -------
        inputs : dict of {str: ndarray}
            ``numeric``, ``categorical`` and, where the model has them, ``user`` and ``item``.
        """
        check_is_fitted(self)
        X, _ = self._given_histories(X)
        inputs = self._encoder.transform(self._check_X(X, reset=False))
        inputs["numeric"] = inputs["numeric"].astype(np.float32)
        return inputs

    def __safe_state__(self, folder) -> dict:
        """The model as parameters, plain values and arrays, its weights written to side
        files of ``folder`` (see ``skmtrec.save``)."""
        if self.callbacks:
            raise TypeError(
                "The parameter `callbacks` holds callbacks, which skmtrec cannot save safely "
                "(they are code). Save with model.set_params(callbacks=None) and set them "
                "again after loading."
            )
        state = {"params": self.get_params(deep=False)}
        if not hasattr(self, "net_"):
            return state
        weights, history = folder.new_file("weights.safetensors"), folder.new_file("history.json")
        self.net_.save_params(f_params=weights, f_history=history, use_safetensors=True)
        state["fitted"] = {
            "n_features_in_": self.n_features_in_,
            "feature_names_in_": getattr(self, "feature_names_in_", None),
            "network_spec_": self.network_spec_,
            "tasks": [[name, kind] for name, kind in self.tasks_.items()],
            "task_states": [task.state() for task in self._task_list],
            "encoder": self._encoder.state(),
            "catalog": None if self._catalog is None else self._catalog.state(),
            "histories": self.net_.module_.history_arrays(),
            "cold_ridges": {name: r.state() for name, r in self._cold_ridges.items()},
            "weights": weights.name,
            "history": history.name,
        }
        return state

    @classmethod
    def __from_safe_state__(cls, state: dict, folder, device: str | None = None):
        """The model of ``__safe_state__``, its network on ``device`` (see ``skmtrec.load``).
        Every part is checked before it is used: a ValueError names the field or file."""
        state = expect_keys(
            state, ("params", "fitted") if "fitted" in state else ("params",), "state"
        )
        model = cls(**expect_keys(state["params"], cls._get_param_names(), "params"))
        model._validate_params()
        if model.callbacks is not None:
            raise ValueError("params.callbacks must be None in a saved model (callbacks are code)")
        model.set_params(device=usable_device(model.device, device))
        if "fitted" not in state:
            return model
        fitted = expect_keys(state["fitted"], FITTED_KEYS, "fitted")
        spec = check_spec(fitted["network_spec_"])
        if not isinstance(fitted["tasks"], list) or not isinstance(fitted["task_states"], list):
            raise ValueError("fitted.tasks and fitted.task_states must be lists")
        kinds = dict(fitted["tasks"])
        if any(kind not in TASK_KINDS for kind in kinds.values()):
            raise ValueError(f"fitted.tasks has a kind outside {sorted(TASK_KINDS)}: {kinds}")
        declared = check_tasks(model.tasks)
        if declared is not None and declared != kinds:
            raise ValueError(f"params.tasks {declared} are not the fitted tasks {kinds}")
        tasks = [
            model._task(name, kind).set_state(task_state)
            for (name, kind), task_state in zip(fitted["tasks"], fitted["task_states"], strict=True)
        ]
        encoder = FeatureEncoder.from_state(fitted["encoder"])
        catalog = None if fitted["catalog"] is None else Catalog.from_state(fitted["catalog"])
        histories = fitted["histories"]
        if not isinstance(histories, dict) or not isinstance(fitted["cold_ridges"], dict):
            raise ValueError("fitted.histories and fitted.cold_ridges must be mappings")
        ridges = {
            name: ColdItemRidge.from_state(ridge, f"cold_ridges[{name!r}]")
            for name, ridge in fitted["cold_ridges"].items()
        }
        check_parts(spec, tasks, encoder, catalog, histories, ridges)
        weights = fitted["weights"]
        tensors = read_weights(spec, folder.read(weights, "fitted.weights"), folder.path / weights)
        # data buffers of the network (item weights, projections) come with its weights
        empty = {"item_counts": None, "item_table": None, "content_projections": None}
        net = model._make_net(
            spec, tasks, catalog, empty, None, 0, histories or None, model.verbose, 1
        )
        with torch.random.fork_rng(devices=_cuda_devices(net.device)):
            net.initialize()  # draws initial weights, which the saved ones replace
        net.module_.load_state_dict(tensors)
        history = fitted["history"]
        net.history = load_history(folder.read(history, "fitted.history"), folder.path / history)
        model._set_fitted(net, spec, kinds, tasks, encoder, catalog, ridges)
        model.n_features_in_ = expect_int(fitted["n_features_in_"], "fitted.n_features_in_")
        if fitted["feature_names_in_"] is not None:
            names = expect_array(
                fitted["feature_names_in_"], "fitted.feature_names_in_", kinds="O", ndim=1
            )
            if len(names) != model.n_features_in_:
                raise ValueError("fitted.feature_names_in_ has one name per feature")
            model.feature_names_in_ = names
        return model


def _units(name: str, units) -> list[int]:
    """Layer sizes as a list of positive ints, or a ValueError naming the parameter. Experts
    need at least one layer; the bottom and towers may have none."""
    ok = isinstance(units, (tuple, list)) and all(
        isinstance(n, Integral) and not isinstance(n, bool) and n >= 1 for n in units
    )
    if not ok or (name == "expert_units" and not units):
        raise ValueError(
            f"`{name}` must be a tuple of positive ints (layer sizes), e.g. (64, 32)"
            f"{', with at least one' if name == 'expert_units' else ''}; got {units!r}."
        )
    return [int(n) for n in units]


def _check_callbacks(callbacks) -> None:
    """Each entry a skorch ``Callback`` or a (name, Callback) pair, before any torch call."""
    for j, entry in enumerate(callbacks or []):
        pair = isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
        callback = entry[1] if pair else entry
        if not isinstance(callback, Callback):
            raise ValueError(
                f"`callbacks[{j}]` must be a skorch Callback or a (name, Callback) pair; got "
                f"{entry!r}."
            )


def _after_interrupt(completed: int) -> None:
    """After a KeyboardInterrupt: in the first epoch there is nothing to keep, so it propagates
    and the estimator stays as it was; later, the model keeps what it learned, with a warning."""
    if completed == 0:
        raise KeyboardInterrupt("Training was interrupted in its first epoch; nothing was fitted.")
    warnings.warn(
        f"Training was interrupted (KeyboardInterrupt) after {completed} completed epoch(s); "
        "the model is fitted with what it learned so far (with early stopping, the best epoch's "
        "weights). Refit to train to the end.",
        TrainingInterruptedWarning,
        stacklevel=3,
    )


def _first_columns(tasks) -> list[int]:
    """Each task's first column in the encoded target matrix."""
    return [int(c) for c in np.cumsum([0] + [task.n_targets for task in tasks])[:-1]]


def _train_rows(n_samples: int, split: float | None, seed: int) -> np.ndarray | None:
    """The rows skorch's ``ValidSplit(split, random_state=seed)`` trains on (None: all)."""
    if split is None:
        return None
    return next(ShuffleSplit(test_size=split, random_state=seed).split(np.arange(n_samples)))[0]


def _accelerator(device):
    """An ``accelerate.Accelerator`` over the processes its launcher started (on the CPU when
    ``device`` is)."""
    try:
        from accelerate import Accelerator
    except ImportError as error:
        raise ImportError(
            "distributed=True needs the accelerate package: pip install 'skmtrec[distributed]'."
        ) from error
    return Accelerator(cpu=torch.device(device).type == "cpu")


def _autocast_dtype(mixed_precision: str, device) -> torch.dtype | None:
    if mixed_precision == "bf16":
        return torch.bfloat16
    device = torch.device(device)
    if mixed_precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def _cuda_devices(device) -> list[int]:
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def _silent(*args, **kwargs) -> None:
    pass


__all__ = ["MultiTaskRecommender"]
