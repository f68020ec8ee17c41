"""Parameter objects: the head's sizes (``architecture``) and the cold-start settings.

Each is a small scikit-learn ``BaseEstimator`` (not a torch module), so ``get_params`` of the
recommender reaches its fields: ``GridSearchCV`` can search ``architecture__n_experts`` or
``cold_start__ridge`` on a recommender built with such an object.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

_UNITS = ("bottom_units", "tower_units", "expert_units")


class _Head(BaseEstimator):
    """A head of the network and its sizes."""

    name: ClassVar[str]

    def head_params(self) -> dict:
        """The spec's ``head`` entry: the name and every size, checked."""
        self._validate_params()
        params = {"architecture": self.name}
        for key, value in self.get_params(deep=False).items():
            params[key] = _units(key, value) if key in _UNITS else value
        return params


class SharedBottom(_Head):
    """The shared-bottom head: one MLP shared by every task, then a tower per task.

    Parameters
    ----------
    bottom_units : tuple of int, default=(128, 64)
        Hidden layer sizes of the shared MLP. Widen it for many tasks or wide inputs.
    tower_units : tuple of int, default=(32,)
        Hidden layer sizes of each task's tower, before its output layer.
    dropout : float, default=0.1
        Dropout after every hidden layer, in [0, 1). Raise it when the validation loss
        rises while the training loss falls.

    Examples
    --------
    >>> from skmtrec import MultiTaskRecommender, SharedBottom
    >>> model = MultiTaskRecommender(architecture=SharedBottom(bottom_units=(64,)))
    >>> model.get_params()["architecture__bottom_units"]
    (64,)
    """

    name = "shared_bottom"
    _parameter_constraints: ClassVar[dict] = {
        "bottom_units": [tuple, list],
        "tower_units": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, bottom_units=(128, 64), tower_units=(32,), dropout=0.1):
        self.bottom_units = bottom_units
        self.tower_units = tower_units
        self.dropout = dropout


class MMoE(_Head):
    """The multi-gate mixture-of-experts head (Ma et al., KDD 2018): shared expert MLPs and a
    softmax gate per task over them, then a tower per task.

    Parameters
    ----------
    n_experts : int, default=4
        Shared experts, at least 1. More experts let unrelated tasks use different ones.
    expert_units : tuple of int, default=(64,)
        Hidden layer sizes of each expert; at least one layer.
    tower_units : tuple of int, default=(32,)
        Hidden layer sizes of each task's tower, before its output layer.
    dropout : float, default=0.1
        Dropout after every hidden layer, in [0, 1).

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skmtrec import MMoE, MultiTaskRecommender
    >>> model = MultiTaskRecommender({"rating": "regression"}, architecture=MMoE())
    >>> search = GridSearchCV(model, {"architecture__n_experts": [4, 8]})
    """

    name = "mmoe"
    _parameter_constraints: ClassVar[dict] = {
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "expert_units": [tuple, list],
        "tower_units": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, n_experts=4, expert_units=(64,), tower_units=(32,), dropout=0.1):
        self.n_experts = n_experts
        self.expert_units = expert_units
        self.tower_units = tower_units
        self.dropout = dropout


class PLE(_Head):
    """The progressive layered extraction head (Tang et al., RecSys 2020): per level, shared
    and task-specific experts, each task gating its own and the shared ones.

    Parameters
    ----------
    n_experts : int, default=4
        Shared experts per level, at least 1.
    n_task_experts : int, default=1
        Experts of each task per level, at least 1.
    n_levels : int, default=1
        Extraction levels. One level is the paper's customized gate control (CGC); each
        further level gates the one before, at the cost of another level of experts.
    expert_units : tuple of int, default=(64,)
        Hidden layer sizes of each expert; at least one layer.
    tower_units : tuple of int, default=(32,)
        Hidden layer sizes of each task's tower, before its output layer.
    dropout : float, default=0.1
        Dropout after every hidden layer, in [0, 1).

    Examples
    --------
    >>> from skmtrec import PLE, MultiTaskRecommender
    >>> model = MultiTaskRecommender(architecture=PLE(n_task_experts=2))
    >>> model.get_params()["architecture__n_task_experts"]
    2
    """

    name = "ple"
    _parameter_constraints: ClassVar[dict] = {
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "n_task_experts": [Interval(Integral, 1, None, closed="left")],
        "n_levels": [Interval(Integral, 1, None, closed="left")],
        "expert_units": [tuple, list],
        "tower_units": [tuple, list],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        n_experts=4,
        n_task_experts=1,
        n_levels=1,
        expert_units=(64,),
        tower_units=(32,),
        dropout=0.1,
    ):
        self.n_experts = n_experts
        self.n_task_experts = n_task_experts
        self.n_levels = n_levels
        self.expert_units = expert_units
        self.tower_units = tower_units
        self.dropout = dropout


HEAD_CONFIGS = {cls.name: cls for cls in (SharedBottom, MMoE, PLE)}


def head_config(architecture) -> _Head:
    """The head of the ``architecture`` parameter: a name (its defaults) or a head object."""
    if isinstance(architecture, _Head):
        return architecture
    return HEAD_CONFIGS[architecture]()


class ColdStart(BaseEstimator):
    """How the model prepares for users and items not seen in fit.

    Parameters
    ----------
    id_dropout : float, default=0.05
        Share of user and item ids replaced by the unseen-id row while training (their
        histories dropped with them), in [0, 1): ids new to fit then get a learned population
        embedding, and the side features learn to stand in for an id. Raise it when most
        predictions are for new users or items.
    copies : float, default=0.5
        Share of each training batch's rows trained a second time as rows of a new item: the
        copy hides the item's id and history and keeps its features and labels, so that the
        item features learn to place new items. Used only where items have features. Set 0
        where a small catalog's features single out each item (the copies then learn each
        item's quirks from its features) or new items never come.
    ridge : float, default=0.5
        Weight, in [0, 1], of a closed-form content model in each regression task's
        prediction for an item new to fit (the network's weighs the rest): the global mean,
        the user's offset, an item offset regressed on the item features and a ridge
        regression per user on those features, solved in fit. Items seen in fit are the
        network's alone. 0 turns it off.

    Examples
    --------
    >>> from skmtrec import ColdStart, MultiTaskRecommender
    >>> model = MultiTaskRecommender(cold_start=ColdStart(ridge=0.0))
    >>> model.get_params()["cold_start__ridge"]
    0.0
    """

    _parameter_constraints: ClassVar[dict] = {
        "id_dropout": [Interval(Real, 0, 1, closed="left")],
        "copies": [Interval(Real, 0, 1, closed="both")],
        "ridge": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, id_dropout=0.05, copies=0.5, ridge=0.5):
        self.id_dropout = id_dropout
        self.copies = copies
        self.ridge = ridge


def settings(estimator) -> dict:
    """The estimator's parameters as the stages read them: the cold-start object's fields
    spread out under their own names (``id_dropout``, ``cold_item_copies``,
    ``cold_item_ridge``), checked."""
    params = estimator.get_params(deep=False)
    cold = params["cold_start"] if params["cold_start"] is not None else ColdStart()
    cold._validate_params()
    return {
        **params,
        "id_dropout": cold.id_dropout,
        "cold_item_copies": cold.copies,
        "cold_item_ridge": cold.ridge,
    }


def with_objects(estimator, nested: dict) -> dict:
    """The ``architecture`` and ``cold_start`` objects that nested parameter names (as the
    command line's ``--set architecture__n_experts=8``) need, where the estimator holds a
    name or None."""
    out = {}
    if any(name.startswith("architecture__") for name in nested):
        if estimator.architecture in HEAD_CONFIGS:
            out["architecture"] = HEAD_CONFIGS[estimator.architecture]()
    if any(name.startswith("cold_start__") for name in nested) and estimator.cold_start is None:
        out["cold_start"] = ColdStart()
    return out


# The flat parameters of skmtrec before 0.1: a model folder that names them still loads.
_OLD_HEAD = ("bottom_units", "tower_units", "n_experts", "n_task_experts", "n_levels")
_OLD_HEAD += ("expert_units", "dropout")
_OLD_COLD = {"id_dropout": "id_dropout", "cold_item_copies": "copies", "cold_item_ridge": "ridge"}
_REMOVED = ("item_id_dropout", "item_feature_shrinkage")
# Parameters added since, at the value that describes a model saved before them.
ADDED_PARAMS = {"n_threads": None, "stop_per_task": False}


def upgrade_params(params):
    """Saved parameters in today's names: the flat head sizes into an ``architecture``
    object, the cold-start ones into ``cold_start``; ``item_id_dropout`` and
    ``item_feature_shrinkage`` were removed and must have been None; parameters added since
    a model was saved take their defaults."""
    if isinstance(params, dict):
        params = {**ADDED_PARAMS, **params}
    old = set(_OLD_HEAD) | set(_OLD_COLD) | set(_REMOVED)
    if not isinstance(params, dict) or not old & set(params):
        return params
    params = dict(params)
    for name in _REMOVED:
        if params.pop(name, None) is not None:
            raise ValueError(f"params.{name} was removed from skmtrec; refit the model")
    head = {name: params.pop(name) for name in _OLD_HEAD if name in params}
    architecture = params.get("architecture")
    if isinstance(architecture, str) and architecture in HEAD_CONFIGS:
        cls = HEAD_CONFIGS[architecture]
        own = cls._get_param_names()
        params["architecture"] = cls(**{k: v for k, v in head.items() if k in own})
    cold = {new: params.pop(name) for name, new in _OLD_COLD.items() if name in params}
    params["cold_start"] = ColdStart(**cold)
    return params


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
