"""Safe persistence: an estimator as a folder of JSON, NumPy arrays and safetensors, no pickle.

``estimator.json`` holds the structure: parameters, vocabularies, task encodings, the network
spec and a format version, as tagged JSON (a tuple, a non-string dict key, an array kept
elsewhere are small objects such as ``{"__tuple__": [...]}``). ``arrays.npz`` holds the numeric
arrays, read with ``allow_pickle=False``. The network weights are safetensors files written by
skorch. Loading rebuilds only classes of scikit-learn and skmtrec, so a model file from anyone
runs no code of its own; an object of any other class is refused when saved.
"""

from __future__ import annotations

import importlib
import json
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

FORMAT = "skmtrec"
FORMAT_VERSION = 1
MANIFEST = "estimator.json"
ARRAYS = "arrays.npz"
# Objects are rebuilt of classes from these packages only; types given as parameters (a dtype)
# may also be numpy's or these builtins.
_TRUSTED_PACKAGES = ("sklearn", "skmtrec")
_TRUSTED_TYPES = {"builtins." + t.__name__: t for t in (bool, int, float, complex, str, object)}
_STORED_KINDS = "biufcUMm"  # array dtypes that npz keeps without pickle


class Folder:
    """The folder of one save or load: side files (weights, histories) by unique names."""

    def __init__(self, path: Path):
        self.path = path
        self._names: set[str] = set()

    def new_file(self, name: str) -> Path:
        """A path in the folder for a new side file, ``name`` numbered if already taken."""
        stem, dot, suffix = name.partition(".")
        candidate, n = name, 1
        while candidate in self._names:
            candidate, n = f"{stem}-{n}{dot}{suffix}", n + 1
        self._names.add(candidate)
        return self.path / candidate

    def file(self, name: str) -> Path:
        """An existing side file named in ``estimator.json``."""
        if Path(name).name != name:
            raise ValueError(f"{self.path / MANIFEST} names a file outside its folder: {name!r}.")
        path = self.path / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the saved model is incomplete.")
        return path


def save(estimator, path) -> Path:
    """Save an estimator to the folder ``path`` without pickle.

    A fitted ``MultiTaskRecommender``, a ``SentenceEmbedder``, or a scikit-learn ``Pipeline``
    or ``ColumnTransformer`` built of them and of scikit-learn's own estimators.

    Parameters
    ----------
    estimator : estimator
        The estimator to save, fitted or not.
    path : str or path-like
        A folder, created if needed; files of an earlier save in it are replaced.

    Returns
    -------
    path : Path
        The folder.

    Raises
    ------
    TypeError
        Naming the parameter or attribute that holds an object of a class outside
        scikit-learn and skmtrec (say a custom callback or function), which cannot be loaded
        without running its code.

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
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    writer = _Writer(Folder(folder))
    tree = writer.encode(estimator, "estimator")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skmtrec_version": _version(),
        "estimator": tree,
    }
    np.savez(folder / ARRAYS, **writer.arrays)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return folder


def load(path, *, device: str | None = None):
    """Load an estimator saved by ``save``, without unpickling anything.

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
    FileNotFoundError, ValueError
        Naming the file at fault: a file missing, truncated or corrupted, an array or a weight
        of the wrong shape, a format version this skmtrec does not know, a class outside
        scikit-learn and skmtrec.
    """
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{manifest_path} is missing: {folder} is not a folder written by skmtrec.save."
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{manifest_path} is not valid JSON ({exc}): it is truncated or corrupted."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_path} is not a skmtrec model file (no 'format': 'skmtrec').")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{manifest_path} has format version {version!r}, which this skmtrec "
            f"({_version()}) does not read: it reads version {FORMAT_VERSION}. Load it with "
            f"the skmtrec that saved it ({manifest.get('skmtrec_version')!r})."
        )
    arrays_path = folder / ARRAYS
    try:
        with np.load(arrays_path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{arrays_path} is missing: the saved model is incomplete."
        ) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(
            f"{arrays_path} cannot be read ({exc}): it is truncated or corrupted."
        ) from None
    reader = _Reader(Folder(folder), arrays, manifest_path, device)
    try:
        return reader.decode(manifest["estimator"], "estimator")
    except KeyError as exc:
        raise ValueError(f"{manifest_path} is missing the entry {exc}: it was altered.") from None


def usable_device(saved: str | None, requested: str | None) -> str | None:
    """The device a loaded network goes to: ``requested``, else ``saved`` where it exists
    here, else the CPU."""
    if requested is not None or saved is None:
        return requested if requested is not None else saved
    import torch

    try:
        torch.empty(0, device=saved)
    except (RuntimeError, AssertionError):
        return "cpu"
    return saved


def _version() -> str:
    from . import __version__

    return __version__


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_trusted(module: str, *, types: bool = False) -> bool:
    packages = (*_TRUSTED_PACKAGES, "numpy") if types else _TRUSTED_PACKAGES
    return module.partition(".")[0] in packages


class _Writer:
    """Turns an object tree into tagged JSON, collecting its numeric arrays."""

    def __init__(self, folder: Folder):
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
        if isinstance(value, type) and (
            _is_trusted(value.__module__, types=True) or _qualified(value) in _TRUSTED_TYPES
        ):
            return {"__type__": _qualified(value)}
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
        if not _is_trusted(cls.__module__):
            raise TypeError(
                f"{where} is a {_qualified(cls)}, which skmtrec cannot save safely: only "
                "scikit-learn and skmtrec objects, arrays and plain values are kept, so that "
                "loading runs no code from the file. Replace it (e.g. with set_params) before "
                "saving, and set it again after loading."
            )
        if hasattr(value, "__safe_state__"):
            state = value.__safe_state__(self.folder)
        else:
            state = value.__getstate__() if hasattr(value, "__getstate__") else vars(value)
        return {"__object__": _qualified(cls), "state": self.encode(state, where)}


class _Reader:
    """Turns tagged JSON back into objects."""

    def __init__(self, folder: Folder, arrays: dict, manifest: Path, device: str | None):
        self.folder, self.arrays, self.manifest, self.device = folder, arrays, manifest, device

    def decode(self, value, where: str):
        if isinstance(value, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        decoders: dict[str, Callable] = {
            "__scalar__": lambda: np.dtype(value["__scalar__"]).type(value["value"]),
            "__array__": lambda: self._array(value["__array__"], where),
            "__objects__": lambda: self._objects(value, where),
            "__index__": lambda: pd.Index(
                self.decode(value["__index__"], where),
                dtype=value["dtype"],
                name=self.decode(value["name"], where),
            ),
            "__categorical_index__": lambda: pd.CategoricalIndex(
                self.decode(value["__categorical_index__"], where),
                categories=self.decode(value["categories"], where),
                ordered=value["ordered"],
                name=self.decode(value["name"], where),
            ),
            "__tuple__": lambda: tuple(self.decode(value["__tuple__"], where)),
            "__items__": lambda: {
                self.decode(k, where): self.decode(v, f"{where}[{k!r}]")
                for k, v in value["__items__"]
            },
            "__slice__": lambda: slice(*value["__slice__"]),
            "__path__": lambda: Path(value["__path__"]),
            "__dtype__": lambda: np.dtype(value["__dtype__"]),
            "__type__": lambda: self._class(value["__type__"], where, types=True),
            "__object__": lambda: self._object(value, where),
        }
        tags = [key for key in value if key in decoders]
        if tags:
            return decoders[tags[0]]()
        return {k: self.decode(v, f"{where}[{k!r}]") for k, v in value.items()}

    def _array(self, key: str, where: str) -> np.ndarray:
        if key not in self.arrays:
            raise ValueError(
                f"{self.folder.path / ARRAYS} has no array {key!r}, which {where} needs: "
                "the saved model was altered."
            )
        return self.arrays[key]

    def _objects(self, value: dict, where: str) -> np.ndarray:
        items = self.decode(value["__objects__"], where)
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(value["shape"])

    def _class(self, name: str, where: str, *, types: bool = False) -> type:
        if types and name in _TRUSTED_TYPES:
            return _TRUSTED_TYPES[name]
        module_name, _, qualname = name.rpartition(".")
        # a nested qualname (Outer.Inner) leaves a module path that may not import: walk back
        while module_name and _is_trusted(module_name, types=types):
            try:
                module = importlib.import_module(module_name)
                break
            except ImportError:
                module_name, _, outer = module_name.rpartition(".")
                qualname = f"{outer}.{qualname}"
        else:
            raise ValueError(
                f"{self.manifest} asks for {name!r} at {where}; skmtrec loads classes of "
                "scikit-learn and skmtrec only."
            )
        found = module
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if not isinstance(found, type):
            raise ValueError(f"{self.manifest} names {name!r} at {where}, which is not a class.")
        return found

    def _object(self, value: dict, where: str):
        cls = self._class(value["__object__"], where)
        state = self.decode(value["state"], where)
        if hasattr(cls, "__from_safe_state__"):
            return cls.__from_safe_state__(state, self.folder, device=self.device)
        obj = cls.__new__(cls)
        if hasattr(obj, "__setstate__"):
            obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
        return obj
