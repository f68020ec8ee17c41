"""A MultiTaskRecommender's fitted state read back from a model folder, checked as a whole.

Each part (a task, the encoder, the catalog, a cold-item ridge) checks its own state as it is
rebuilt; here the parts are checked against one another and against the network spec, and the
weights against the network built from the spec, so that a vocabulary, a table or a weight of
another model is never served with this one.
"""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from skorch.history import History

from .._prepare.spec import SPEC_VERSION
from .._training.task_stopping import network_with
from ..exceptions import ModelFileError
from ..nn import BALANCING, HEADS, MultiTaskNetwork
from .model_folder import parse_json
from .state_checks import expect_array, expect_csr, expect_int, expect_keys

FITTED_KEYS = (
    "n_features_in_",
    "feature_names_in_",
    "network_spec_",
    "tasks",
    "task_states",
    "encoder",
    "catalog",
    "histories",
    "cold_ridges",
    "graph",
    "weights",
    "history",
    "task_members",
)
_SPEC_KEYS = ("version", "tasks", "inputs", "head", "balancing", "features")
_INPUT_KEYS = ("n_users", "n_items", "cardinalities", "n_numeric", "history_sides")
_SCORER_KEYS = ("similarity", "temperature")


def check_spec(spec) -> dict:
    """The network spec, of the version, head and balancing this skmtrec builds."""
    expect_keys(spec, _SPEC_KEYS, "network_spec_")
    if spec["version"] != SPEC_VERSION:
        raise ValueError(
            f"network_spec_ has version {spec['version']!r}; this skmtrec builds version "
            f"{SPEC_VERSION}"
        )
    inputs = spec["inputs"]
    if not isinstance(inputs, dict) or not set(_INPUT_KEYS) <= set(inputs):
        raise ValueError(f"network_spec_ inputs must hold {list(_INPUT_KEYS)}")
    for part, key, known in (("head", "architecture", HEADS), ("balancing", "method", BALANCING)):
        value = spec[part].get(key) if isinstance(spec[part], dict) else None
        if not isinstance(value, str) or value not in known:
            raise ValueError(f"network_spec_ {part}.{key} is {value!r}, not one of {list(known)}")
    expect_int(inputs.get("embedding_dim"), "network_spec_ inputs.embedding_dim", minimum=1)
    if inputs.get("history_sample") is not None:
        expect_int(inputs["history_sample"], "network_spec_ inputs.history_sample", minimum=1)
    if not isinstance(spec["tasks"], list) or not all(isinstance(t, dict) for t in spec["tasks"]):
        raise ValueError("network_spec_ tasks must be a list of mappings")
    for task in spec["tasks"]:
        _check_scorer(task)
    return spec


def _check_scorer(task: dict) -> None:
    """A dot-scored task's similarity and temperature, where the spec has them (specs saved
    before they existed build a plain dot product)."""
    field = f"network_spec_ task {task.get('name')!r}"
    if task.get("similarity", "dot") not in ("dot", "cosine"):
        raise ValueError(f"{field}: similarity must be 'dot' or 'cosine'")
    temperature = task.get("temperature", 1.0)
    valid = isinstance(temperature, int | float) and not isinstance(temperature, bool)
    if not valid or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"{field}: temperature must be a finite number > 0")


def _task_contract(task_spec: dict) -> dict:
    """A task's entry of the spec without its scorer's settings (similarity, temperature):
    the network keeps those, and a spec saved before they existed has none."""
    return {k: v for k, v in task_spec.items() if k not in _SCORER_KEYS}


def read_weights(spec: dict, data: bytes, path) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors ``data`` (the file ``path``), checked against the network
    of ``spec`` (built on the meta device, so a spec of any size costs no memory): exactly its
    tensors, of its dtypes and shapes, finite. The network built for real is then no larger
    than the file."""
    try:
        with torch.device("meta"):
            expected = MultiTaskNetwork(spec).state_dict()
    except Exception as exc:  # whatever a spec of the wrong form makes torch raise
        raise ValueError(
            f"network_spec_ does not describe a network skmtrec builds ({exc})"
        ) from None
    try:
        tensors = load_tensors(data)
    except Exception as exc:  # a safetensors parse error of any kind: the bytes are bad
        raise ModelFileError(f"{path} is not a safetensors file ({exc}).") from None
    if set(tensors) != set(expected):
        missing = sorted(set(expected) - set(tensors))
        extra = sorted(set(tensors) - set(expected))
        raise ModelFileError(
            f"{path} does not hold this model's network: tensors missing {missing[:5]}, "
            f"unknown {extra[:5]}; it was altered or belongs to another model."
        )
    for name, tensor in tensors.items():
        want = expected[name]
        if tensor.dtype != want.dtype or tensor.shape != want.shape:
            raise ModelFileError(
                f"{path}: tensor {name!r} is {tensor.dtype} of shape {tuple(tensor.shape)}, "
                f"where this model's network has {want.dtype} of shape {tuple(want.shape)}; "
                "it was altered or belongs to another model."
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinite values.")
    return tensors


def check_parts(spec: dict, tasks, encoder, catalog, histories: dict, ridges: dict) -> None:
    """The rebuilt parts of a fitted model, consistent with one another and with ``spec``."""
    inputs = spec["inputs"]
    saved = [_task_contract(task) for task in spec["tasks"]]
    if [_task_contract(task.spec()) for task in tasks] != saved:
        raise ValueError("task_states do not match the tasks of network_spec_")
    sizes = {
        "n_users": encoder.n_users,
        "n_items": encoder.n_items,
        "cardinalities": list(encoder.cardinalities),
        "n_numeric": len(encoder.numeric_labels),
    }
    for name, value in sizes.items():
        if inputs[name] != value:
            raise ValueError(
                f"the encoder's vocabularies give {name} = {value}, where network_spec_ has "
                f"{inputs[name]}: they belong to another model"
            )
    if catalog is not None:
        _check_catalog(catalog, encoder)
    if set(histories) != set(inputs["history_sides"]):
        raise ValueError(f"histories are kept for {sorted(histories)}, not the spec's sides")
    for role, arrays in histories.items():
        _check_history(arrays, role, encoder, inputs.get("history_values"))
    regression = {task.name for task in tasks if task.kind == "regression"}
    for name, ridge in ridges.items():
        if name not in regression:
            raise ValueError(f"cold_ridges names {name!r}, which is no regression task")
        if ridge.n_users != encoder.n_users:
            raise ValueError(f"cold_ridges[{name!r}] is of {ridge.n_users} users")
        content = ridge.content
        if any(j >= len(encoder.numeric_labels) for j in content.numeric) or any(
            j >= len(encoder.cardinalities) or n != encoder.cardinalities[j]
            for j, n in zip(content.categorical, content.levels, strict=True)
        ):
            raise ValueError(f"cold_ridges[{name!r}] reads columns the encoder does not have")


def _check_catalog(catalog, encoder) -> None:
    for role, n in (("user", encoder.n_users), ("item", encoder.n_items)):
        numeric, categorical = (
            getattr(catalog, f"{role}_numeric"),
            getattr(catalog, f"{role}_categorical"),
        )
        if numeric.shape != (n + 1, len(encoder.numeric_labels)):
            raise ValueError(f"catalog.{role}_numeric has shape {numeric.shape}")
        if categorical.shape != (n + 1, len(encoder.cardinalities)):
            raise ValueError(f"catalog.{role}_categorical has shape {categorical.shape}")
        if len(categorical) and (
            (categorical < 0).any() or (categorical > np.array(encoder.cardinalities)).any()
        ):
            raise ValueError(f"catalog.{role}_categorical holds codes past the vocabularies")


def _check_history(arrays, role: str, encoder, n_values) -> None:
    field = f"histories.{role}"
    expect_keys(arrays, ("indptr", "members", "values"), field)
    owners, members = (
        (encoder.n_users, encoder.n_items) if role == "user" else (encoder.n_items, encoder.n_users)
    )
    # one more owner than codes: the rows of owners added at predict time start past them
    expect_csr(arrays["indptr"], arrays["members"], owners + 1, members + 1, field, first=1)
    values = expect_array(
        arrays["values"], f"{field}.values", kinds="f", ndim=2, length=len(arrays["members"])
    )
    if values.shape[1] != n_values:
        raise ValueError(f"{field}.values has {values.shape[1]} columns, not {n_values}")


def load_history(data: bytes, path) -> History:
    """The training history of the JSON ``data`` (the file ``path``)."""
    epochs = parse_json(data, path)
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        raise ModelFileError(f"{path} is not a training history (a list of epochs).")
    return History(epochs)


def read_members(task_members: dict, spec: dict, n_tasks: int, module, folder) -> tuple:
    """The networks of a model fitted with per-task stopping (see ``FittedModel.members``):
    ``module`` (the net's, loaded from ``fitted.weights``) and a copy of it per file of
    ``task_members["weights"]``, each file checked against the spec; and each task's index."""
    field = "fitted.task_members"
    task_members = expect_keys(task_members, ("task_member", "weights"), field)
    files, task_member = task_members["weights"], task_members["task_member"]
    named = isinstance(files, list) and all(isinstance(name, str) for name in files)
    if not named or not 0 < len(files) < n_tasks or len(set(files)) < len(files):
        raise ValueError(
            f"{field}.weights must list distinct files, at least one and fewer than the tasks "
            f"({n_tasks})"
        )
    if not isinstance(task_member, list) or len(task_member) != n_tasks:
        raise ValueError(f"{field}.task_member must be a list of one index per task ({n_tasks})")
    for j, index in enumerate(task_member):
        if expect_int(index, f"{field}.task_member[{j}]") > len(files):
            raise ValueError(f"{field}.task_member[{j}] is {index}, of {len(files) + 1} networks")
    if set(task_member) != set(range(len(files) + 1)):
        raise ValueError(f"{field}.task_member leaves a network unused: {task_member}")
    members = [module]
    for name in files:
        tensors = read_weights(spec, folder.read(name, f"{field}.weights"), folder.path / name)
        members.append(network_with(module, tensors))
    return members, [int(index) for index in task_member]
