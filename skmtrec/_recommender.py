"""MultiTaskRecommender: the scikit-learn estimator around the skorch multi-task net."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import RegressorTags, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import Callback

from ._persistence.fitted_state import FITTED_KEYS
from ._persistence.save_load import save, usable_device
from ._persistence.state_checks import expect_array, expect_int, expect_keys
from ._prepare.catalog import Catalog
from ._prepare.features import FeatureEncoder, as_frame
from ._prepare.histories import fit_histories
from ._prepare.sides import assign_sides
from ._prepare.spec import head_params, input_params, module_state, network_spec
from ._prepare.targets import check_tasks, make_task, targets_frame, task_weights
from ._serving.cold_items import ColdItemBlend
from ._serving.fitted import FittedModel
from ._tasks import TASK_KINDS
from ._training.build import accelerator as make_accelerator
from ._training.build import build_net, cuda_devices, validation_split
from ._training.device import check_device
from .exceptions import TrainingInterruptedWarning
from .nn import BALANCING, HEADS


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
        params = self.get_params(deep=False)
        declared, head = check_tasks(self.tasks), head_params(params)
        _check_callbacks(self.callbacks)
        check_device(self.device)
        frame = self._check_X(self._without_history(X), reset=None)
        targets = targets_frame(y, len(frame), declared)
        kinds = declared or {name: "regression" for name in targets.columns}
        tasks = [make_task(name, kind, params).fit(targets[name]) for name, kind in kinds.items()]
        balancing = {
            "method": self.task_balancing,
            "task_weights": task_weights(tasks, self.task_weights),
        }
        y_encoded = np.hstack([task.encode(targets[task.name]) for task in tasks])
        encoder = FeatureEncoder(self.user_col, self.item_col).fit(frame)
        inputs = encoder.transform(frame)
        sides = assign_sides(encoder, inputs, self.item_features, self.user_features)
        catalog = (
            Catalog.from_inputs(inputs, encoder.n_users, encoder.n_items)
            if "user" in inputs and "item" in inputs
            else None
        )
        histories = (
            fit_histories(params, tasks, inputs, y_encoded, encoder) if catalog is not None else {}
        )
        spec = network_spec(tasks, encoder, sides, input_params(params, histories), head, balancing)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        net = self._train(params, spec, tasks, catalog, inputs, y_encoded, histories, seed)
        cold_items = ColdItemBlend.fit(
            self.cold_item_ridge, tasks, targets, inputs, spec["inputs"]["sides"], encoder, seed
        )
        # Fitted state changes only now, so a fit that fails leaves the last model intact.
        validate_data(self, frame, reset=True, skip_check_array=True)
        self._set_fitted(
            FittedModel(net, spec, tasks, encoder, catalog, cold_items, self.history_col)
        )
        return self

    def _without_history(self, X):
        """X without the history column: histories given in fit are not read."""
        if self.user_history and isinstance(X, pd.DataFrame) and self.history_col in X:
            return X.drop(columns=self.history_col)
        return X

    def _train(self, params, spec, tasks, catalog, inputs, y_encoded, histories, seed):
        """The trained skorch net; its histories hold the validation rows only after training."""
        split = validation_split(params, len(y_encoded), seed)
        rows = None if split is None else split.train
        train_histories = {role: h.arrays(rows) for role, h in histories.items()} or None
        accelerator = make_accelerator(self.device) if self.distributed else None
        # with several processes, only the main one prints
        verbose = self.verbose if accelerator is None or accelerator.is_main_process else 0
        net = build_net(
            params,
            spec,
            tasks,
            catalog,
            module_state(params, spec, catalog, inputs),
            split=split,
            histories=train_histories,
            verbose=verbose,
            processes=1 if accelerator is None else accelerator.num_processes,
        )
        if accelerator is not None:
            net.set_params(accelerator=accelerator, device=accelerator.device)
        with torch.random.fork_rng(devices=cuda_devices(net.device)):
            torch.manual_seed(seed)
            net.fit(inputs, y_encoded)
        if accelerator is not None:  # a fitted model of its own, which pickles
            net.set_params(accelerator=None, verbose=self.verbose)
        if net.interrupted:
            _after_interrupt(net.completed_epochs)
        if histories and split is not None:  # the validation rows join
            net.module_.set_history({role: h.arrays() for role, h in histories.items()})
        return net

    def _set_fitted(self, model: FittedModel) -> None:
        spec, encoder = model.spec, model.encoder
        self.model_ = model
        self.net_ = model.net
        self.network_spec_ = spec
        self.tasks_ = {task.name: task.kind for task in model.tasks}
        self.fitted_tasks_ = {task.name: task for task in model.tasks}
        self.classes_ = {task.name: task.classes for task in model.tasks if task.is_classifier}
        self.item_features_ = spec["features"]["item"]
        self.user_features_ = spec["features"]["user"]
        self.user_col_ = encoder.user_label
        self.item_col_ = encoder.item_label
        self.user_ids_ = None if encoder.user_codes is None else encoder.user_codes.values
        self.item_ids_ = None if encoder.item_codes is None else encoder.item_codes.values

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

    # -- predict -------------------------------------------------------------------------------

    def _rows(self, X):
        """X's rows checked against fit, and the histories X gives (None: none)."""
        check_is_fitted(self)
        X, given = self.model_.split_given(X)
        return self._check_X(X, reset=False), given

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
        frame, given = self._rows(X)
        return self.model_.predict_tasks(frame, given, index=_index(X))

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
        names = [name for name, t in self.fitted_tasks_.items() if t.is_classifier]
        if task is not None and task not in names:
            raise ValueError(f"task={task!r} is not a classification task; choose from {names}.")
        wanted = [task] if task is not None else names
        probas = self.model_.predict_proba(*self._rows(X), wanted)
        return probas if len(probas) > 1 else probas[wanted[0]]

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
        regression task's value blends in the content model of ``cold_item_ridge``.

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
        return self.model_.explain(*self._rows(X), task, index=_index(X))

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
        return self.model_.recommend(
            users, k, exclude_seen=exclude_seen, task=task, items=items, explain=explain
        )

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
        return self.model_.similar_items(items, k)

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
        for task in self.fitted_tasks_.values():
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
        return self.model_.export_onnx(path)

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
        frame, _ = self._rows(X)
        return self.model_.onnx_inputs(frame)

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
        if not hasattr(self, "model_"):
            return state
        weights, history = folder.new_file("weights.safetensors"), folder.new_file("history.json")
        self.net_.save_params(f_params=weights, f_history=history, use_safetensors=True)
        state["fitted"] = {
            "n_features_in_": self.n_features_in_,
            "feature_names_in_": getattr(self, "feature_names_in_", None),
            **self.model_.state(),
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
        declared = check_tasks(model.tasks)
        fitted_model = FittedModel.from_state(model.get_params(deep=False), fitted, folder)
        kinds = {task.name: task.kind for task in fitted_model.tasks}
        if declared is not None and declared != kinds:
            raise ValueError(f"params.tasks {declared} are not the fitted tasks {kinds}")
        model._set_fitted(fitted_model)
        model.n_features_in_ = expect_int(fitted["n_features_in_"], "fitted.n_features_in_")
        if fitted["feature_names_in_"] is not None:
            names = expect_array(
                fitted["feature_names_in_"], "fitted.feature_names_in_", kinds="O", ndim=1
            )
            if len(names) != model.n_features_in_:
                raise ValueError("fitted.feature_names_in_ has one name per feature")
            model.feature_names_in_ = names
        return model


def _index(X):
    return X.index if isinstance(X, pd.DataFrame) else None


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
        stacklevel=4,
    )
