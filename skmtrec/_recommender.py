"""MultiTaskRecommender: the scikit-learn estimator around the skorch multi-task net."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from functools import partial
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import RegressorTags, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import Callback

from ._config import (
    ADDED_PARAMS,
    HEAD_CONFIGS,
    PLE,
    ColdStart,
    MMoE,
    SharedBottom,
    head_config,
    settings,
)
from ._persistence.methods import PersistenceMethods
from ._prepare.catalog import Catalog
from ._prepare.features import FeatureEncoder, as_frame, as_pandas
from ._prepare.histories import fit_histories
from ._prepare.interaction_matrix import fit_inputs
from ._prepare.sides import assign_sides
from ._prepare.spec import input_params, module_state, network_spec
from ._prepare.targets import (
    check_tasks,
    first_columns,
    make_task,
    ranking_loss_for,
    targets_frame,
    task_weights,
)
from ._serving.cold_items import ColdItemBlend
from ._serving.fitted import FittedModel
from ._serving.methods import ServingMethods, is_classifier_kind
from ._training.build import accelerator as make_accelerator
from ._training.build import build_net, cuda_devices, validation_split
from ._training.device import check_device
from ._training.graph_filter import RetrievalGraph
from ._training.progress import SklearnCallbacks, SklearnEpochs
from ._training.task_stopping import task_members
from ._training.threads import limit_threads_of, limits_threads, thread_limit
from .exceptions import TrainingInterruptedWarning
from .nn import BALANCING


# the methods that run the network
@limit_threads_of(
    "predict_tasks", "predict", "predict_proba", "explain", "recommend", "similar_items",
    "similar_users", "score", "export_onnx",
)  # fmt: skip
class MultiTaskRecommender(ServingMethods, PersistenceMethods, SklearnCallbacks, BaseEstimator):
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
        column, the learned map can single out training items by their content, so that a new
        item lands near one of them instead of among items like it. ``None`` keeps every
        column; raise it when a side's content is wide and the catalog large.
    user_history : bool, default=True
        Describe each user also by the items of their rows in fit and the labels they gave
        them (each regression and binary task's, standardized), pooled into the user's vector
        as SVD++ and FISM do: kept as CSR arrays, pooled per batch. While training, a row's own
        item is left out of its user's history; rows of the validation split join the
        histories once training ends. A user unseen in fit has no history and gets the
        population's vector, unless X (or the user table of ``recommend``) gives one in
        ``history_col``. False turns it off.
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
        stays exact while that reads no more than 8 times what sampling would, and always in
        predict and recommend. None: always exact.
    embedding_dim : int, default=64
        Width of the user and item id embeddings; the cap for categorical embeddings.
    architecture : {"mmoe", "shared_bottom", "ple"}, SharedBottom, MMoE or PLE, default="mmoe"
        The head between the input part and the tasks' towers, by name (with its default
        sizes) or as an object that sets its sizes and dropout: :class:`SharedBottom` (one MLP
        shared by every task), :class:`MMoE` (shared experts and a gate per task) or
        :class:`PLE` (shared and task-specific experts, gated per task). With an object,
        ``GridSearchCV`` reaches its fields, e.g. ``architecture__n_experts``.
    cold_start : ColdStart or None, default=None
        How the model prepares for users and items new to fit: id dropout, cold-item copies
        and the cold-item content model (see :class:`ColdStart`); None: ``ColdStart()``.
    lr : float, default=2e-3
        Learning rate of the AdamW optimizer (``skmtrec.nn.RowwiseAdamW``: an id or history
        table with more rows than a batch reads from it is updated only in the rows read, so
        that a step costs the same however many users and items there are).
    weight_decay : float, default=2.0
        Decoupled weight decay of AdamW: each step shrinks every weight by ``lr * weight_decay``
        (a table row that a step did not read takes it when next read). In an epoch of more
        than 100 steps, each step takes ``100 / steps`` of that, so that an epoch decays the
        weights no more than 100 steps do, however many rows there are. Strong decay keeps
        the id embeddings from overfitting sparse interactions; lower it for dense data.
    batch_size : int, default=1024
        Training batch size.
    max_epochs : int, default=50
        Most training epochs.
    negative_ratio : int, default=8
        For implicit tasks under ``ranking_loss="bce"``: sampled negatives per observed row,
        drawn afresh every epoch. Fewer negatives fit faster and rank less well.
    ranking_loss : {"auto", "bce", "softmax"}, default="auto"
        How implicit tasks learn. "bce": binary cross-entropy of each row against
        ``negative_ratio`` sampled negatives, scored through the head like every task.
        "softmax": the retrieval task, the cross entropy of each row's item among the
        catalog; the task is then scored by the cosine of the user's and the item's vectors
        (which is what makes the whole catalog affordable per batch and in ``recommend``)
        and skips the head, while the other tasks stay on the head and re-rank its
        candidates in ``recommend``. "auto": "softmax" for a catalog of 10,000 items or more
        in fit, where scoring every item through the head costs too much, else "bce" (the
        head ranks better where it can afford every item); "bce" under
        ``task_balancing="gradnorm"``, which needs every task on the head.
    softmax_items : int, default=512
        With ``ranking_loss="softmax"``, the largest catalog scored in full per batch; beyond
        it, each batch scores this many items drawn by popularity, with the logQ correction:
        the number of negatives of each row. More negatives rank better and cost more per
        batch.
    graph_weight : float, default=0.25
        With a retrieval task, the weight in its score of a graph filter of the fit
        interactions (GF-CF, Shen et al., CIKM 2021, sharpened as in BSPM, Choi et al., SIGIR
        2023): each item is scored by the items it shares users with and by the smooth part of
        the user-item graph, computed in closed form at fit. ``recommend`` retrieves by the
        task's score plus this weight times the filter's, each standardized per user over the
        catalog; ``predict``, ``similar_items`` and ``similar_users`` read the task alone.
        The filter keeps the fit interactions and 256 numbers per item; 0 leaves it out of the
        score. Raise it where interactions are many per user and features few; lower it
        where features or histories given at predict time matter more than co-occurrence.
    patience : int or None, default=3
        Early stopping: stop after ``patience`` epochs without a lower validation loss and
        restore the best weights (of each task, with ``stop_per_task``). ``None`` disables
        it.
    stop_per_task : bool, default=True
        With several tasks and early stopping, stop each task on its own validation loss:
        each task keeps the network of the epoch where its loss was lowest, and training runs
        until every task has gone ``patience`` epochs without a lower one. Tasks learnt
        together peak at different epochs (a rating within a few, a multilabel item
        attribute after tens), so one stopping point leaves some overfit and others
        underfit. The fitted model then holds one copy of the network per distinct best epoch
        (``net_.module_`` is that of the task ``recommend`` ranks by by default), and predicting
        runs each copy once: memory and prediction time grow up to the number of tasks. A
        ``recommend`` blend of tasks kept at different epochs scores each from its own copy,
        over every candidate item (no retrieval shortcut). ``False``: one network,
        stopped on the weighted validation loss of all tasks (``task_weights``); set it where
        memory or prediction time matter more than each task's accuracy.
    validation_fraction : float, default=0.1
        Share of the rows held out for the validation loss (of early stopping). 0 disables the
        validation split, and so early stopping.
    task_weights : dict of {str: float}, default=None
        Weight of each task's loss in the sum. A task not named weighs its kind's default: 3
        for "implicit" (the ranking task weighs more than the labels beside it), 1 for the
        others. Adaptive balancing multiplies these weights by its own factors;
        validation (early stopping) always uses these weights alone, so a moving weight cannot
        fake an improvement.
    task_balancing : {"fixed", "uncertainty", "gradnorm", "dwa"}, default="uncertainty"
        How task losses are weighted while training. "fixed": ``task_weights``.
        "uncertainty": learned log-variances s, each task's loss becomes ``exp(-s) L + s``
        (Kendall et al., CVPR 2018). "gradnorm": weights learned to keep the tasks' gradient
        norms on the head's last shared layers in proportion to their training rates (Chen et
        al., ICML 2018). "dwa": weights from each task's last two epoch losses (Liu et al.,
        CVPR 2019). The learned balancing parameters train faster than the network and without
        weight decay, so that the weights keep up with the falling losses. The weights of every
        epoch are in ``net_.history`` as ``task_weight_<task>``.
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
        gradients are averaged by torch's ``DistributedDataParallel`` during the backward pass
        (every table's dense: a step exchanges whole tables), and every process
        ends with the same model and the same history (epochs, losses, early stopping). The
        epoch lines print on the main process only. The device is the accelerator's (its GPU
        per process, or the CPU with ``device="cpu"``). With one process it trains as
        without.
    n_threads : int or None, default=None
        The threads torch (and the BLAS libraries, through threadpoolctl) compute with during
        ``fit`` and the methods that run the network (``predict``, ``recommend``, ...), set
        for the call and restored after it; the setting is the process's, so calls from
        several threads of one process share it. None leaves them as they are: torch's
        default is a thread per core, and in the worker processes of ``GridSearchCV`` or
        ``cross_validate`` with ``n_jobs=k`` joblib has already set them to the cores over k,
        so parallel fits do not oversubscribe the cores. Set it where a fit runs beside other
        work, or under joblib's threading backend.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialization, the validation split, shuffling and dropout; an int
        gives the same model on every fit on CPU.
    verbose : int, default=0
        0 prints nothing. 1 prints a line per epoch, in plain text::

            epoch  3/50  train 0.5123  valid 0.5234 (rating 0.8811)  1.2s  at most 56s left  best

        It gives the training and validation losses, both at the fixed ``task_weights`` (the
        training loss that the task balancing optimises is another, in ``net_.history`` as
        ``train_loss``), each task's validation loss, the epoch's seconds, the time left if
        training runs to ``max_epochs`` (at most that, with early stopping), and "best" where
        the validation loss is the lowest yet; without a validation split, training losses
        stand for the validation ones. 2 also shows a progress bar over each epoch's batches
        (skorch's ``ProgressBar``, tqdm, on stderr). With scikit-learn 1.9 or later,
        ``set_callbacks`` takes scikit-learn's callbacks (``sklearn.callback.ProgressBar()``
        for a bar over the epochs, ``ScoringMonitor`` to score the model after each epoch).

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
        and task weights: ``train_loss`` is the loss the task balancing optimised,
        ``train_loss_fixed_weights`` and ``valid_loss`` weigh the task losses by the fixed
        ``task_weights``. ``net_.module_`` is the torch network (with ``stop_per_task``, the
        network of the task ``recommend`` ranks by by default; ``model_.members`` holds every
        network kept).
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
    user_vectors_, item_vectors_ : ndarray of shape (n_users, n_dims), (n_items, n_dims)
        The learned vector of each user of ``user_ids_`` (item of ``item_ids_``), row for
        row, computed from the network on first access and kept (read-only): those that
        ``similar_users`` and ``similar_items`` compare by cosine. With a retrieval task (an
        implicit task under ``ranking_loss="softmax"``) they are its user and item vectors:
        the task's raw score of a pair is their dot product (plus a per-item term where the
        task's similarity is "dot"); else the users' and items' input vectors (id embedding,
        side features and history), which only the head turns into scores. Only with both id
        columns.
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
        "user_history": ["boolean"],
        "history_col": [str],
        "item_history": ["boolean"],
        "history_sample": [Interval(Integral, 1, None, closed="left"), None],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions(set(HEAD_CONFIGS)), SharedBottom, MMoE, PLE],
        "cold_start": [ColdStart, None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "negative_ratio": [Interval(Integral, 1, None, closed="left")],
        "ranking_loss": [StrOptions({"auto", "bce", "softmax"})],
        "softmax_items": [Interval(Integral, 1, None, closed="left")],
        "graph_weight": [Interval(Real, 0, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "stop_per_task": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "task_weights": [Mapping, None],
        "task_balancing": [StrOptions(set(BALANCING))],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "mixed_precision": [StrOptions({"auto", "bf16", "no"})],
        "distributed": ["boolean"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
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
        user_history=True,
        history_col="history",
        item_history=True,
        history_sample=32,
        embedding_dim=64,
        architecture="mmoe",
        cold_start=None,
        lr=2e-3,
        weight_decay=2.0,
        batch_size=1024,
        max_epochs=50,
        negative_ratio=8,
        ranking_loss="auto",
        softmax_items=512,
        graph_weight=0.25,
        patience=3,
        stop_per_task=True,
        validation_fraction=0.1,
        task_weights=None,
        task_balancing="uncertainty",
        callbacks=None,
        device="cpu",
        mixed_precision="auto",
        distributed=False,
        n_threads=None,
        random_state=None,
        verbose=0,
    ):
        self.tasks = tasks
        self.user_col = user_col
        self.item_col = item_col
        self.item_features = item_features
        self.user_features = user_features
        self.content_components = content_components
        self.user_history = user_history
        self.history_col = history_col
        self.item_history = item_history
        self.history_sample = history_sample
        self.embedding_dim = embedding_dim
        self.architecture = architecture
        self.cold_start = cold_start
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.negative_ratio = negative_ratio
        self.ranking_loss = ranking_loss
        self.softmax_items = softmax_items
        self.graph_weight = graph_weight
        self.patience = patience
        self.stop_per_task = stop_per_task
        self.validation_fraction = validation_fraction
        self.task_weights = task_weights
        self.task_balancing = task_balancing
        self.callbacks = callbacks
        self.device = device
        self.mixed_precision = mixed_precision
        self.distributed = distributed
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    def __setstate__(self, state: dict) -> None:
        # an estimator pickled before a parameter was added has it at the value that
        # describes it (``ADDED_PARAMS``)
        super().__setstate__({**ADDED_PARAMS, **state})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.input_tags.categorical = True
        tasks = self.tasks
        if tasks is None or (
            isinstance(tasks, Mapping) and not any(is_classifier_kind(k) for k in tasks.values())
        ):
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    # -- fit -----------------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    @limits_threads
    def fit(self, X, y=None):
        """Fit the network on interactions ``X`` and task labels ``y``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features) or sparse matrix
            Interactions: the user and item id columns and feature columns. Categorical columns
            (object, category, bool) become embeddings, and so does a flag (a numeric column of
            0 and 1 only); other numeric columns are standardized. A
            dataframe of another library (polars, pyarrow, ...) is read as pandas, with its
            column names and dtypes. A scipy.sparse matrix of shape (n_users, n_items) is read
            as implicit and LightFM hold interactions: each stored nonzero entry is a row
            (explicit zeros are none), read by user, then item, and the row and column indices
            are the user and item ids. An empty row or column (a user or item with no entry) is
            left out: it is not in ``user_ids_`` or ``item_ids_``, an empty column is never
            recommended, and either is new (unseen) if given later. The ids are kept in order of
            first appearance: the users in increasing order, the items not, so
            ``item_vectors_[j]`` is the item ``item_ids_[j]``, not column j (nor is
            ``user_vectors_[i]`` row i where a row is empty). The values are the labels of the
            one regression or binary task in ``tasks``; a binary task's negatives are stored as
            another nonzero value, e.g. -1 and 1 as LightFM's logistic loss takes them (zeros
            are absent entries, so a 0/1 matrix holds one class and is refused). With implicit
            tasks only the values are not read, neither as labels nor as weights (the model
            takes no sample weights): every entry is one positive.
        y : DataFrame, Series or array-like of shape (n_samples,) or (n_samples, n_tasks)
            One column per task, named as in ``tasks``. NaN (or None) marks a missing label.
            An implicit task needs no column (every row of X is a positive), so a model of
            implicit tasks only is fitted with ``y=None``, as is one fitted on a sparse X.

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

        Examples
        --------
        A user x item matrix of clicks, as implicit and LightFM take it:

        >>> import scipy.sparse as sp
        >>> from skmtrec import MultiTaskRecommender
        >>> clicks = sp.random(30, 20, density=0.3, format="csr", random_state=0)
        >>> model = MultiTaskRecommender({"clicked": "implicit"}, max_epochs=1, random_state=0)
        >>> ids, scores = model.fit(clicks).recommend([0, 5], k=3, as_arrays=True)
        >>> ids.shape
        (2, 3)
        """
        params = settings(self)
        declared, head = check_tasks(self.tasks), head_config(self.architecture).head_params()
        _check_callbacks(self.callbacks)
        check_device(self.device)
        X, y = fit_inputs(as_pandas(X), y, declared, self.user_col, self.item_col)
        frame = self._check_X(self._without_history(X), reset=None)
        targets = targets_frame(y, len(frame), declared)
        kinds = declared or {name: "regression" for name in targets.columns}
        encoder = FeatureEncoder(self.user_col, self.item_col).fit(frame)
        params["ranking_loss"] = ranking_loss_for(params, encoder.n_items)
        tasks = [make_task(name, kind, params).fit(targets[name]) for name, kind in kinds.items()]
        balancing = {
            "method": self.task_balancing,
            "task_weights": task_weights(tasks, self.task_weights),
        }
        y_encoded = np.hstack([task.encode(targets[task.name]) for task in tasks])
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
        reported = (X, y, frame, encoder)
        net, epochs = self._train(
            params, spec, tasks, catalog, inputs, y_encoded, histories, seed, reported
        )
        members = task_members(net, tasks)
        cold_items = ColdItemBlend.fit(
            params["cold_item_ridge"],
            tasks,
            targets,
            inputs,
            spec["inputs"]["sides"],
            encoder,
            seed,
        )
        graph = RetrievalGraph.fit(
            tasks, spec, inputs, y_encoded, first_columns(tasks), self.graph_weight, seed
        )
        # Fitted state changes only now, so a fit that fails leaves the last model intact.
        validate_data(self, frame, reset=True, skip_check_array=True)
        self._set_fitted(
            FittedModel(
                net, spec, tasks, encoder, catalog, cold_items, self.history_col, graph, members
            )
        )
        if epochs is not None:
            epochs.end(X, y)
        return self

    def _without_history(self, X):
        """X without the history column: histories given in fit are not read."""
        if self.user_history and isinstance(X, pd.DataFrame) and self.history_col in X:
            return X.drop(columns=self.history_col)
        return X

    def _train(self, params, spec, tasks, catalog, inputs, y_encoded, histories, seed, reported):
        """The trained skorch net (its histories hold the validation rows only after training),
        and the fit's task of scikit-learn's callbacks, begun (None: no such callbacks).
        ``reported``: fit's X and y, its frame and encoder, for scikit-learn's callbacks."""
        split = validation_split(params, len(y_encoded), seed)
        rows = None if split is None else split.train
        train_histories = {role: h.arrays(rows) for role, h in histories.items()} or None
        accelerator = make_accelerator(self.device) if self.distributed else None
        # with several processes, only the main one prints and calls scikit-learn's callbacks
        main = accelerator is None or accelerator.is_main_process
        net = build_net(
            params,
            spec,
            tasks,
            catalog,
            module_state(params, spec, catalog, inputs),
            split=split,
            histories=train_histories,
            verbose=self.verbose if main else 0,
            n_rows=len(y_encoded) if split is None else len(split.train),
        )
        if accelerator is not None:
            net.set_params(accelerator=accelerator, device=accelerator.device)
        X, y, frame, encoder = reported
        epochs = None
        if main:
            at_epoch = partial(self._fitted_at_epoch, net, spec, tasks, encoder, catalog, frame)
            epochs = SklearnEpochs.begin(
                self, params["max_epochs"], X, y, at_epoch, stops=accelerator is None
            )
        if epochs is not None:
            net.callbacks = [*net.callbacks, ("sklearn_callbacks", epochs)]
        try:
            with torch.random.fork_rng(devices=cuda_devices(net.device)):
                torch.manual_seed(seed)
                net.fit(inputs, y_encoded)
        finally:
            if epochs is not None:  # it holds the estimator and the data: not kept
                net.callbacks = net.callbacks[:-1]
                net.callbacks_ = [(n, c) for n, c in net.callbacks_ if c is not epochs]
        if accelerator is not None:  # a fitted model of its own, which pickles
            net.set_params(accelerator=None, verbose=self.verbose)
        if net.interrupted and not (epochs is not None and epochs.stopped):
            _after_interrupt(net.completed_epochs)
        if histories and split is not None:  # the validation rows join
            net.module_.set_history({role: h.arrays() for role, h in histories.items()})
        return net, epochs

    def _fitted_at_epoch(self, net, spec, tasks, encoder, catalog, frame) -> dict:
        """The fitted attributes of an estimator that predicts with ``net`` as it is, during
        training (without the cold-item blend and the graph filter, fitted after it)."""
        fitted = copy.copy(self)
        model = FittedModel(
            net, spec, tasks, encoder, catalog, ColdItemBlend({}, 0.0), self.history_col
        )
        fitted._set_fitted(model)
        validate_data(fitted, frame, reset=True, skip_check_array=True)
        return {key: value for key, value in vars(fitted).items() if key.endswith("_")}

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

    # computed from the network on the first access: a fit that nobody asks for them pays
    # nothing, and a saved model has nothing more to carry
    @property
    def user_vectors_(self) -> np.ndarray:
        """The learned vector of each user of ``user_ids_``, row for row: the vectors that
        :meth:`similar_users` compares (see ``Attributes``)."""
        return self._vectors("user")

    @property
    def item_vectors_(self) -> np.ndarray:
        """The learned vector of each item of ``item_ids_``, row for row: the vectors that
        :meth:`similar_items` compares (see ``Attributes``)."""
        return self._vectors("item")

    def _vectors(self, role: str) -> np.ndarray:
        check_is_fitted(self)
        model = self.model_
        if model.catalog is None:
            raise AttributeError(
                f"{role}_vectors_ needs user and item ids: fit with `user_col` and `item_col`."
            )
        with thread_limit(self.n_threads):
            return model.learned_vectors(role)

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
