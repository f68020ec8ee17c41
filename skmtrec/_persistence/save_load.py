"""Safe persistence: an estimator as a folder of JSON, NumPy arrays and safetensors, no pickle.

``estimator.json`` holds the structure: parameters, vocabularies, task encodings, the network
spec, the size and SHA-256 digest of every other file, and a format version, as tagged JSON (a
tuple, a non-string dict key, an array kept elsewhere are small objects such as
``{"__tuple__": [...]}``). ``arrays.npz`` holds the numeric arrays, read member by member after
checking each header. The network weights are safetensors files. Loading rebuilds only the
classes, types and functions listed in ``skmtrec._persistence.trusted``, after checking the
whole file names nothing else, so a model folder from anyone runs no code of its own.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .._training.device import check_device
from ..exceptions import ModelFileError
from . import trusted as _trusted
from .model_folder import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    FolderReader,
    FolderWriter,
    check_records,
    check_target,
    parse_json,
    read_regular,
    write_folder,
)

FORMAT = "skmtrec"
FORMAT_VERSION = 2  # 2: public class names, `files` with each side file's size and digest
ARRAYS = "arrays.npz"
_STORED_KINDS = "biufcUMm"  # array dtypes that npz keeps without pickle
_SCALAR_KINDS = "biufcUSMm"
# each tag of the tagged JSON, with the keys its object has
_TAGS = {
    "__scalar__": {"value"},
    "__array__": set(),
    "__objects__": {"shape"},
    "__index__": {"dtype", "name"},
    "__categorical_index__": {"categories", "ordered", "name"},
    "__tuple__": set(),
    "__items__": set(),
    "__slice__": set(),
    "__path__": set(),
    "__dtype__": set(),
    "__type__": set(),
    "__function__": set(),
    "__object__": {"state"},
}
# what rebuilding an object from altered state raises, before it is said to be the file's fault
_STATE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
)

__all__ = ["check_target", "load", "save", "usable_device"]


def save(estimator, path) -> Path:
    """Save an estimator to the folder ``path`` without pickle.

    A fitted ``MultiTaskRecommender``, a ``SentenceEmbedder``, or a scikit-learn ``Pipeline``
    or ``ColumnTransformer`` built of them and of scikit-learn's transformers (the list is in
    ``skmtrec.load``).

    The folder is written whole beside ``path`` and then put in its place in one step, so an
    interrupted save leaves an earlier model in ``path`` as it was.

    Parameters
    ----------
    estimator : estimator
        The estimator to save, fitted or not.
    path : str or path-like
        A folder: new, empty, or holding a model an earlier save wrote (it is replaced).

    Returns
    -------
    path : Path
        The folder.

    Raises
    ------
    TypeError
        Naming the parameter or attribute that holds an object of a class skmtrec does not
        load (say a custom callback or function), which cannot be loaded without running its
        code.
    ValueError
        If ``path`` is a file, or a folder holding files other than a model's.

    Examples
    --------
    >>> import skmtrec
    >>> from skmtrec import MultiTaskRecommender
    >>> from skmtrec.datasets import make_interactions
    >>> X, y = make_interactions(n_users=30, n_items=20, n_interactions=300, random_state=0)
    >>> model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
    >>> model = model.fit(X, y[["rating"]])
    >>> import tempfile
    >>> folder = skmtrec.save(model, tempfile.mkdtemp())
    >>> loaded = skmtrec.load(folder)
    >>> bool((loaded.predict(X) == model.predict(X)).all())
    True
    """

    def write(folder: FolderWriter) -> None:
        writer = _Writer(folder)
        tree = writer.encode(estimator, "estimator")
        np.savez(folder.path / ARRAYS, **writer.arrays)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "skmtrec_version": _version(),
            "files": folder.records(),
            "estimator": tree,
        }
        text = json.dumps(manifest, indent=1).encode("utf-8")
        if len(text) > MAX_MANIFEST_BYTES:
            raise ValueError(
                f"The model's {MANIFEST} would have {len(text)} bytes, past the "
                f"{MAX_MANIFEST_BYTES} that load reads: its vocabularies of string ids or "
                "categories are too large to keep as JSON."
            )
        (folder.path / MANIFEST).write_bytes(text)

    return write_folder(path, write)


def load(path, *, device: str | None = None):
    """Load an estimator saved by ``save``, without unpickling or running anything of the file.

    The folder is checked before anything is built: ``estimator.json`` may name only
    skmtrec's estimators (``MultiTaskRecommender``, ``SentenceEmbedder``), their parameter
    objects (``SharedBottom``, ``MMoE``, ``PLE``, ``ColdStart``) and these scikit-learn
    classes, by their public import path: ``Pipeline``, ``FeatureUnion``,
    ``ColumnTransformer``, ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
    ``RobustScaler``, ``Normalizer``, ``Binarizer``, ``OneHotEncoder``, ``OrdinalEncoder``,
    ``KBinsDiscretizer``, ``PolynomialFeatures``, ``PowerTransformer``,
    ``QuantileTransformer``, ``FunctionTransformer`` (its function one of a few NumPy ufuncs,
    such as ``np.log1p``), ``SimpleImputer``, ``MissingIndicator``, ``PCA``,
    ``TruncatedSVD``; as values, Python's and NumPy's scalar types. Each other file must be a
    regular file inside the folder, of the size and SHA-256 digest ``estimator.json`` records
    (folders of format version 1, which recorded none, are checked for everything else), and
    hold arrays and weights of the types and shapes the model needs. A ``SentenceEmbedder``
    loads its language model from the name or folder it was saved with, running no code of
    that model's (``trust_remote_code=False``).

    Parameters
    ----------
    path : str or path-like
        The folder ``save`` wrote.
    device : str or None, default=None
        Where the networks go (a torch device, such as "cpu"). None: where they were saved
        when that device exists here, else the CPU.

    Returns
    -------
    estimator
        The estimator, predicting as it did when saved.

    Raises
    ------
    FileNotFoundError
        Naming a file that is missing.
    ValueError
        Naming the file and the field at fault: a class, type or function that skmtrec does
        not load; a file truncated, corrupted, altered or of another save (its size or digest
        differ), not a regular file, or leading out of the folder; arrays or weights of the
        wrong type or shape; a format version this skmtrec does not read.
    """
    if device is not None:
        check_device(device)  # the caller's argument: its error names `device`, not the file
    folder = Path(path)
    manifest_path = folder / MANIFEST
    try:
        text = read_regular(manifest_path, inside=folder, limit=MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        aside = sorted(folder.parent.glob(f".{folder.name}.replaced-*/{MANIFEST}"))
        hint = (
            f" A save that was replacing it stopped midway and left the earlier model in "
            f"{aside[0].parent}: rename that folder back to {folder.name}."
            if aside
            else ""
        )
        raise FileNotFoundError(
            f"{manifest_path} is missing: {folder} is not a folder written by skmtrec.save." + hint
        ) from None
    manifest = parse_json(text, manifest_path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(
            f"{manifest_path} is not a skmtrec model file (no 'format': 'skmtrec')."
        )
    version = manifest.get("format_version")
    if version not in (1, FORMAT_VERSION) or isinstance(version, bool):
        raise ModelFileError(
            f"{manifest_path} has format version {version!r}, which this skmtrec "
            f"({_version()}) does not read: it reads versions 1 and {FORMAT_VERSION}. Load it "
            f"with the skmtrec that saved it ({manifest.get('skmtrec_version')!r})."
        )
    for entry in ("estimator", "files") if version > 1 else ("estimator",):
        if entry not in manifest:
            raise ModelFileError(f"{manifest_path} has no `{entry}`: it was altered.")
    records = None if version == 1 else check_records(manifest["files"], manifest_path)
    reader = FolderReader(folder, records)
    classes = _audit(manifest["estimator"], manifest_path, old_names=version == 1)
    arrays = _Arrays(reader.read(ARRAYS, "`__array__` entries"), folder / ARRAYS)
    decoder = _Reader(reader, arrays, classes, device)
    try:
        return decoder.decode(manifest["estimator"], "estimator")
    except (ModelFileError, FileNotFoundError):
        raise
    except _STATE_ERRORS as exc:
        raise ModelFileError(f"{manifest_path}: {exc}; it was altered.") from None


def usable_device(saved: str | None, requested: str | None) -> str | None:
    """The device a loaded network goes to: ``requested`` (which ``load`` checked), else
    ``saved`` where it is usable here, else the CPU."""
    if requested is not None:
        return requested
    if saved is None:
        return None
    try:
        check_device(saved)
    except ValueError:
        return "cpu"
    return saved


def _version() -> str:
    from .. import __version__

    return __version__


def _audit(tree, manifest: Path, *, old_names: bool) -> dict[str, type]:
    """``{name in the file: class}`` of every object ``tree`` asks for, once every class,
    type and function it names is found trusted; else a ModelFileError listing them all.
    Nothing is imported but the trusted classes' own modules."""
    found: dict[str, type] = {}
    refused: list[str] = []
    renames = _trusted.defining_names() if old_names else {}

    def visit(value, where: str) -> None:
        if isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, f"{where}[{i}]")
            return
        if not isinstance(value, dict):
            return
        name = value.get("__object__")
        if isinstance(name, str) and name not in found:
            try:
                found[name] = _trusted.resolve_class(renames.get(name, name))
            except (KeyError, ImportError, AttributeError):  # off the list, or not here
                refused.append(f"class {name!r} at {where}")
        elif "__object__" in value and not isinstance(name, str):
            refused.append(f"class {name!r} at {where}")
        for tag, trusted in (("__type__", _trusted.TYPES), ("__function__", _trusted.FUNCTIONS)):
            if tag in value and not (isinstance(value[tag], str) and value[tag] in trusted):
                refused.append(f"{tag.strip('_')} {value[tag]!r} at {where}")
        for key, v in value.items():
            visit(v, f"{where}.{key}" if not key.startswith("__") else where)

    try:
        visit(tree, "estimator")
    except RecursionError:
        raise ModelFileError(f"{manifest} is nested too deeply to be a model file.") from None
    if refused:
        raise ModelFileError(
            f"{manifest} names what skmtrec never loads (only its own estimators, the "
            f"scikit-learn classes that skmtrec.load lists, and plain types): "
            f"{'; '.join(refused[:10])}{'; ...' if len(refused) > 10 else ''}."
        )
    return found


class _Arrays:
    """The arrays of ``arrays.npz``, each read only when the tree names it, after its header
    is checked against its bytes."""

    def __init__(self, data: bytes, path: Path):
        self.path, self.size = path, len(data)
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise ModelFileError(
                f"{path} cannot be read ({exc}): it is truncated or corrupted."
            ) from None

    def get(self, key, where: str) -> np.ndarray:
        try:
            info = self.zip.getinfo(f"{key}.npy")
        except (KeyError, TypeError):
            raise ModelFileError(
                f"{self.path} has no array {key!r}, which {where} needs: the saved model was "
                "altered."
            ) from None
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > self.size:
            raise ModelFileError(f"{self.path}: array {key!r} is compressed or oversized.")
        try:
            return _npy(self.zip.read(info))
        except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as exc:
            raise ModelFileError(
                f"{self.path}: array {key!r}, which {where} needs, cannot be read ({exc})."
            ) from None


def _npy(data: bytes) -> np.ndarray:
    """The array of the .npy bytes ``data``, refusing a header that does not fit them."""
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"npy format version {version} is not one numpy.savez writes")
    if dtype.kind not in _STORED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"dtype {dtype} is not one skmtrec saves")
    count = math.prod(shape)
    if count * dtype.itemsize != len(data) - stream.tell():
        raise ValueError(
            f"its header declares shape {shape} of {dtype}, which its {len(data)} bytes do not hold"
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
    return flat.reshape(shape, order="F" if fortran else "C").copy()


class _Writer:
    """Turns an object tree into tagged JSON, collecting its numeric arrays."""

    def __init__(self, folder: FolderWriter):
        self.folder = folder
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value, where: str):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value
        if isinstance(value, np.generic):
            return {"__scalar__": value.dtype.str, "value": value.item()}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, pd.Index):
            return self._index(value, where)
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return self._dict(value, where)
        if isinstance(value, slice):
            return {"__slice__": [value.start, value.stop, value.step]}
        if isinstance(value, Path):
            return {"__path__": str(value)}
        if isinstance(value, np.dtype):
            return {"__dtype__": value.str}
        if isinstance(value, type) and _trusted.type_name(value):
            return {"__type__": _trusted.type_name(value)}
        if _trusted.function_name(value):
            return {"__function__": _trusted.function_name(value)}
        return self._object(value, where)

    def _array(self, array: np.ndarray, where: str) -> dict:
        if array.dtype.kind in _STORED_KINDS:
            key = f"a{len(self.arrays)}"
            self.arrays[key] = array
            return {"__array__": key}
        if array.dtype.kind == "O":
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(array.ravel())]
            return {"__objects__": items, "shape": list(array.shape)}
        raise TypeError(f"{where}: an array of dtype {array.dtype} cannot be saved.")

    def _index(self, index: pd.Index, where: str) -> dict:
        if isinstance(index, pd.CategoricalIndex):
            return {
                "__categorical_index__": self.encode(index.to_numpy(dtype=object), where),
                "categories": self._index(index.categories, where),
                "ordered": bool(index.ordered),
                "name": self.encode(index.name, where),
            }
        if isinstance(index, pd.MultiIndex):
            raise TypeError(f"{where}: a MultiIndex cannot be saved.")
        return {
            "__index__": self.encode(index.to_numpy(), where),
            "dtype": str(index.dtype),
            "name": self.encode(index.name, where),
        }

    def _dict(self, mapping: dict, where: str) -> dict:
        plain = all(isinstance(k, str) and not k.startswith("__") for k in mapping)
        if plain:
            return {k: self.encode(v, f"{where}[{k!r}]") for k, v in mapping.items()}
        return {
            "__items__": [
                [self.encode(k, where), self.encode(v, f"{where}[{k!r}]")]
                for k, v in mapping.items()
            ]
        }

    def _object(self, value, where: str) -> dict:
        cls = type(value)
        name = _trusted.class_name(cls)
        if name is None:
            raise TypeError(
                f"{where} is a {cls.__module__}.{cls.__qualname__}, which skmtrec cannot save "
                "safely: only skmtrec's estimators, the scikit-learn classes that skmtrec.load "
                "lists, arrays and plain values are kept, so that loading runs no code from "
                "the file. Replace it (e.g. with set_params) before saving, and set it again "
                "after loading."
            )
        if hasattr(value, "__safe_state__"):
            state = value.__safe_state__(self.folder)
        else:
            try:
                _check_params(value)
            except ValueError as exc:
                raise TypeError(f"{where} cannot be saved: {exc}") from None
            state = value.__getstate__() if hasattr(value, "__getstate__") else vars(value)
        return {"__object__": name, "state": self.encode(state, where)}


class _Reader:
    """Turns tagged JSON back into objects, each tag's fields checked."""

    def __init__(self, folder: FolderReader, arrays: _Arrays, classes: dict, device: str | None):
        self.folder, self.arrays, self.classes, self.device = folder, arrays, classes, device
        self.manifest = folder.manifest

    def decode(self, value, where: str):
        if isinstance(value, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        tags = [key for key in value if key.startswith("__")]
        if not tags:
            return {k: self.decode(v, f"{where}.{k}") for k, v in value.items()}
        tag = tags[0]
        if tag not in _TAGS or set(value) != {tag} | _TAGS[tag]:
            raise ModelFileError(f"{self.manifest}: {where} is a malformed entry {sorted(value)}.")
        decoders: dict[str, Callable] = {
            "__scalar__": self._scalar,
            "__array__": lambda v, w: self.arrays.get(v["__array__"], w),
            "__objects__": self._objects,
            "__index__": self._index,
            "__categorical_index__": self._categorical_index,
            "__tuple__": lambda v, w: tuple(self._list(v["__tuple__"], w)),
            "__items__": self._items,
            "__slice__": self._slice,
            "__path__": lambda v, w: Path(self._str(v["__path__"], w)),
            "__dtype__": lambda v, w: self._dtype(v["__dtype__"], w, "biufcUSMmO"),
            "__type__": lambda v, w: _trusted.TYPES[v["__type__"]],
            "__function__": lambda v, w: _trusted.FUNCTIONS[v["__function__"]],
            "__object__": self._object,
        }
        return decoders[tag](value, where)

    def _bad(self, where: str, problem: str) -> ModelFileError:
        return ModelFileError(f"{self.manifest}: {where} {problem}; it was altered.")

    def _list(self, value, where: str) -> list:
        if not isinstance(value, list):
            raise self._bad(where, "is not a list")
        return self.decode(value, where)

    def _str(self, value, where: str) -> str:
        if not isinstance(value, str):
            raise self._bad(where, "is not a string")
        return value

    def _dtype(self, text, where: str, kinds: str) -> np.dtype:
        try:
            dtype = np.dtype(self._str(text, where))
        except (TypeError, ValueError, SyntaxError):
            raise self._bad(where, f"names no dtype skmtrec saves ({text!r})") from None
        if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None:
            raise self._bad(where, f"names a dtype skmtrec never saves ({text!r})")
        return dtype

    def _scalar(self, value: dict, where: str):
        dtype = self._dtype(value["__scalar__"], where, _SCALAR_KINDS)
        if not isinstance(value["value"], (bool, int, float, str)):
            raise self._bad(where, "holds a scalar that is not a number or a string")
        return dtype.type(value["value"])

    def _objects(self, value: dict, where: str) -> np.ndarray:
        items = self._list(value["__objects__"], where)
        shape = value["shape"]
        if not (
            isinstance(shape, list)
            and len(shape) <= 32
            and all(type(n) is int and n >= 0 for n in shape)
            and math.prod(shape) == len(items)
        ):
            raise self._bad(where, f"has a shape {shape!r} that its {len(items)} items do not fill")
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(shape)

    def _index(self, value: dict, where: str) -> pd.Index:
        return pd.Index(
            self.decode(value["__index__"], where),
            dtype=self._str(value["dtype"], where),
            name=self.decode(value["name"], where),
        )

    def _categorical_index(self, value: dict, where: str) -> pd.CategoricalIndex:
        if not isinstance(value["ordered"], bool):
            raise self._bad(where, "has an `ordered` that is not a bool")
        return pd.CategoricalIndex(
            self.decode(value["__categorical_index__"], where),
            categories=self.decode(value["categories"], where),
            ordered=value["ordered"],
            name=self.decode(value["name"], where),
        )

    def _items(self, value: dict, where: str) -> dict:
        pairs = value["__items__"]
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 for p in pairs
        ):
            raise self._bad(where, "is not a list of key-value pairs")
        return {self.decode(k, where): self.decode(v, f"{where}[{k!r}]") for k, v in pairs}

    def _slice(self, value: dict, where: str) -> slice:
        parts = value["__slice__"]
        if not (
            isinstance(parts, list)
            and len(parts) == 3
            and all(p is None or type(p) is int for p in parts)
        ):
            raise self._bad(where, "is not a slice of ints")
        return slice(*parts)

    def _object(self, value: dict, where: str):
        cls = self.classes[value["__object__"]]
        state = self.decode(value["state"], f"{where}.state")
        try:
            if hasattr(cls, "__from_safe_state__"):
                return cls.__from_safe_state__(state, self.folder, device=self.device)
            obj = cls.__new__(cls)
            obj.__setstate__(_instance_state(cls, state))
            _check_params(obj)
            return obj
        except (ModelFileError, FileNotFoundError):
            raise
        except _STATE_ERRORS as exc:
            raise ModelFileError(
                f"{self.manifest}: {where} (a {cls.__name__}) cannot be rebuilt: {exc}; it was "
                "altered."
            ) from None


def _instance_state(cls: type, state) -> dict:
    """``state`` for an instance of the scikit-learn class ``cls``: a mapping of attribute
    names, none of which shadows what the class defines (a method, a property, the parameter
    constraints) but its parameters."""
    if not isinstance(state, dict):
        raise TypeError("its state is not a mapping")
    parameters = set(cls._get_param_names())
    shadowing = [
        key
        for key in state
        if not isinstance(key, str)
        or key.startswith("__")
        or (key not in parameters and hasattr(cls, key))
    ]
    if shadowing:
        raise ValueError(f"its state sets {shadowing[:5]}, which are not attributes of its own")
    return state


def _check_params(estimator) -> None:
    """The parameters of a rebuilt scikit-learn estimator, checked as ``fit`` would, and those
    that reach past the model bounded (``_trusted.LOAD_RULES``)."""
    if hasattr(estimator, "_parameter_constraints"):
        estimator._validate_params()
    _trusted.check_load_rules(estimator.get_params(deep=False))
