"""What a model folder may name: the classes, types and functions ``skmtrec.load`` rebuilds.

A name is trusted only if it is on one of the explicit lists below, written as its public
import path (``sklearn.preprocessing.StandardScaler``, ``skmtrec.MultiTaskRecommender``). It
is resolved by importing that module and taking that one attribute, which must be the class
defined in that package: no attribute walk, so nothing reachable through a module (a
``subprocess`` imported somewhere) can be named. Every other class, function or type is
refused, at save (a ``TypeError`` naming its place) and at load (a ``ValueError`` naming the
file and the place).
"""

from __future__ import annotations

import importlib

import numpy as np

# skmtrec's own estimators, and the scikit-learn classes a Pipeline of them may hold, including
# those that fitted scikit-learn objects keep inside (ColumnTransformer keeps its passthrough
# columns as a FunctionTransformer). A scikit-learn object is rebuilt from its fitted state as
# saved, which scikit-learn does not check: a number in it that sizes an output (an altered
# n_output_features_) can make transform allocate that much, though it runs nothing.
CLASSES = frozenset(
    {
        "skmtrec.MultiTaskRecommender",
        "skmtrec.SentenceEmbedder",
        "skmtrec.SharedBottom",
        "skmtrec.MMoE",
        "skmtrec.PLE",
        "skmtrec.ColdStart",
        "sklearn.pipeline.Pipeline",
        "sklearn.pipeline.FeatureUnion",
        "sklearn.compose.ColumnTransformer",
        "sklearn.preprocessing.StandardScaler",
        "sklearn.preprocessing.MinMaxScaler",
        "sklearn.preprocessing.MaxAbsScaler",
        "sklearn.preprocessing.RobustScaler",
        "sklearn.preprocessing.Normalizer",
        "sklearn.preprocessing.Binarizer",
        "sklearn.preprocessing.OneHotEncoder",
        "sklearn.preprocessing.OrdinalEncoder",
        "sklearn.preprocessing.KBinsDiscretizer",
        "sklearn.preprocessing.PolynomialFeatures",
        "sklearn.preprocessing.PowerTransformer",
        "sklearn.preprocessing.QuantileTransformer",
        "sklearn.preprocessing.FunctionTransformer",
        "sklearn.impute.SimpleImputer",
        "sklearn.impute.MissingIndicator",
        "sklearn.decomposition.PCA",
        "sklearn.decomposition.TruncatedSVD",
    }
)

# Types that parameters and fitted attributes hold as values (a ``dtype=np.float64``).
_TYPES = (bool, int, float, complex, str, object)
_NUMPY_TYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "str_",
    "bytes_",
    "object_",
)
TYPES = {f"builtins.{t.__name__}": t for t in _TYPES} | {
    f"numpy.{name}": getattr(np, name) for name in _NUMPY_TYPES
}

# Element-wise functions a FunctionTransformer may apply: NumPy ufuncs, which compute and
# nothing else.
_UFUNCS = (
    "absolute",
    "cbrt",
    "exp",
    "expm1",
    "log",
    "log10",
    "log1p",
    "log2",
    "sign",
    "sqrt",
    "square",
    "tanh",
    "arcsinh",
)
FUNCTIONS = {f"numpy.{name}": getattr(np, name) for name in _UFUNCS}

# Parameters of the trusted scikit-learn classes that reach past the model, and the values a
# loaded model may hold: {name: (allowed(value), why)}.
LOAD_RULES = {
    "memory": (
        lambda value: value is None,
        "a Pipeline's cache is unpickled, so a model file names none (set it after loading)",
    ),
    "n_jobs": (
        lambda value: value is None or (type(value) is int and 1 <= abs(value) <= 64),
        "a model file may ask for at most 64 jobs",
    ),
    "n_threads": (
        lambda value: value is None or (type(value) is int and 1 <= value <= 64),
        "a model file may ask for at most 64 threads",
    ),
}


def check_load_rules(params: dict) -> None:
    """A ValueError where a loaded model's parameter reaches past the model (``LOAD_RULES``)."""
    for name, (allowed, why) in LOAD_RULES.items():
        if name in params and not allowed(params[name]):
            raise ValueError(f"`{name}` is {params[name]!r}: {why}")


_resolved: dict[str, type] = {}


def resolve_class(name: str) -> type:
    """The trusted class ``name``; a ``KeyError`` if ``name`` is not on the list."""
    if name not in CLASSES:
        raise KeyError(name)
    if name not in _resolved:
        module_name, _, attribute = name.rpartition(".")
        found = getattr(importlib.import_module(module_name), attribute)
        package = module_name.partition(".")[0]
        if not isinstance(found, type) or found.__module__.partition(".")[0] != package:
            raise KeyError(name)  # not the class that package defines: never rebuild it
        _resolved[name] = found
    return _resolved[name]


def class_name(cls: type) -> str | None:
    """The name ``cls`` is saved under, or None if it is not a trusted class."""
    parts = cls.__module__.split(".")
    while len(parts) > 1 and parts[-1].startswith("_"):
        parts.pop()
    name = f"{'.'.join(parts)}.{cls.__qualname__}"
    try:
        return name if resolve_class(name) is cls else None
    except (KeyError, ImportError, AttributeError):
        return None


def type_name(value: type) -> str | None:
    """The name the type ``value`` is saved under, or None if it is not trusted."""
    return next((name for name, t in TYPES.items() if t is value), None)


def function_name(value) -> str | None:
    """The name the function ``value`` is saved under, or None if it is not trusted."""
    return next((name for name, f in FUNCTIONS.items() if f is value), None)


def defining_names() -> dict[str, str]:
    """``{module.qualname where defined: public name}`` of every trusted class: the names
    model files of format version 1 used."""
    names = {}
    for name in CLASSES:
        try:
            cls = resolve_class(name)
        except (KeyError, ImportError, AttributeError):  # not in this scikit-learn
            continue
        names[f"{cls.__module__}.{cls.__qualname__}"] = name
    return names
