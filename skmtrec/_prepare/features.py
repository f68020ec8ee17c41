"""Features: how a table of user, item and feature columns becomes the network's inputs.

Ids and categorical columns become integer codes, where code 0 is reserved for a value not seen
in fit (or missing), so that unseen users, items and categories are served instead of refused.
Numeric columns are standardized with the statistics of fit, except flags (0 and 1 only),
which are coded as categories, as booleans are; NaN or infinity in a column of numbers is
refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Number

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from .._persistence.state_checks import expect_array, expect_keys

_Column = str | int


def as_pandas(data, name: str = "X"):
    """``data`` (``name`` in messages) as pandas where it is a dataframe or series of another
    library (polars, pyarrow, modin, ...: any that narwhals reads), with its column names and
    dtypes (a categorical stays categorical, a boolean bool); anything else as it is."""
    if data is None or isinstance(data, (pd.DataFrame, pd.Series, np.ndarray)):
        return data
    native = nw.from_native(data, pass_through=True, allow_series=True)
    if isinstance(native, nw.LazyFrame):
        raise TypeError(
            f"{name} is a lazy {type(data).__module__.split('.')[0]} frame; collect it first "
            f"(e.g. {name}.collect())."
        )
    if not isinstance(native, (nw.DataFrame, nw.Series)):
        return data
    try:
        return native.to_pandas()
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"Reading a {type(data).__module__.split('.')[0]} table as pandas needs "
            f"{exc.name}: pip install {exc.name}"
        ) from exc


def as_frame(X) -> pd.DataFrame:
    """X as a pandas DataFrame: another library's dataframe through ``as_pandas``; a 2-D
    array's columns are named by their position (0, 1, ...)."""
    X = as_pandas(X)
    if isinstance(X, pd.DataFrame):
        check_unique_columns(X, "X")
        return X
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(
            "A sparse X is read by fit only, as a user x item matrix; here pass the (user, "
            "item) rows as a DataFrame (or a dense 2-D array)."
        )
    arr = np.asarray(X)
    if arr.ndim == 1:
        raise ValueError(
            "Expected 2D array, got 1D array instead. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) "
            "if it contains a single sample."
        )
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D; got an array with shape {arr.shape}.")
    if arr.dtype.kind == "c":
        raise ValueError("Complex data not supported in X.")
    frame = pd.DataFrame(arr)
    return frame.infer_objects() if arr.dtype == object else frame


def check_unique_columns(frame: pd.DataFrame, name: str) -> None:
    """A ValueError naming the repeated column names of ``frame`` (``name``: X or y)."""
    repeated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if repeated:
        raise ValueError(
            f"{name} has more than one column named {repeated}; give each column its own name."
        )


def column_label(frame: pd.DataFrame, column: _Column, role: str) -> object:
    """The label of ``column`` in ``frame``: a name, or an int read as a position."""
    if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
        if not 0 <= column < frame.shape[1]:
            raise ValueError(
                f"The {role} column is position {column}, but X has {frame.shape[1]} "
                f"feature(s); set `{role}_col` to a column of X."
            )
        return frame.columns[column]
    if column not in frame.columns:
        raise ValueError(
            f"The {role} id column {column!r} is missing from X; X has columns "
            f"{list(frame.columns)[:20]}. Set `{role}_col` to the column that holds {role} ids."
        )
    return column


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _is_flag(series: pd.Series) -> bool:
    """Whether a numeric column holds 0 and 1 and nothing else: a flag, which fit codes as a
    category, as it codes a boolean column, so that a flag given as 0/1 numbers and one given
    as booleans make the same model. A column with a missing value stays numeric (and is
    refused, as every numeric column with one is)."""
    values = series.to_numpy()
    if values.dtype.kind not in "iuf" or len(values) == 0:
        return False
    if values.min() != 0 or values.max() != 1:  # NaN compares unequal: not a flag
        return False
    return bool(((values == 0) | (values == 1)).all())


def _check_finite_numbers(series: pd.Series, label) -> None:
    """Refuse NaN or infinity in a column of numbers given for a flag (a category of numbers
    in fit), as in a numeric column: a number column's NaN is no category."""
    if not _is_numeric(series):
        return
    values = series.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(
            f"Input X contains NaN or infinity in feature column {label!r}, a flag of 0 and 1 "
            "in fit. Impute or drop those values."
        )


# A string column with at most this many values in fit is coded from its distinct values (each
# hashed once); one with more (string ids, say) is matched row by row.
_FEW_VALUES = 1024

_FAMILIES = {
    "integer": "numbers",
    "floating": "numbers",
    "mixed-integer-float": "numbers",
    "decimal": "numbers",
    "string": "strings",
    "boolean": "bools",
}


def _kind(values) -> tuple[object, str]:
    """``values`` (a categorical's categories) and pandas' inferred kind of them."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.dtype.categories
    return values, pd.api.types.infer_dtype(values, skipna=True)


def _family(values) -> str | None:
    """Whether ``values`` are numbers, strings or bools (None: mixed, empty or other)."""
    return _FAMILIES.get(_kind(values)[1])


def _numbers_and_strings(values) -> tuple[object, object] | None:
    """A number and a string of ``values`` where it holds both (such as 7 and "7", two
    distinct values), else None."""
    values, kind = _kind(values)
    if kind not in ("mixed-integer", "mixed"):
        return None
    number = next((v for v in values if isinstance(v, Number)), None)
    string = next((v for v in values if isinstance(v, str)), None)
    return None if number is None or string is None else (number, string)


@dataclass
class _Codebook:
    """Values seen in fit, coded 1..n; everything else is 0. ``family`` (numbers, strings or
    bools) catches a column whose type drifted since fit, where no value would match."""

    values: pd.Index
    label: object
    family: str | None

    @classmethod
    def fit(cls, series: pd.Series, label) -> _Codebook:
        try:
            values = pd.Index(pd.unique(series.dropna()))
        except TypeError as exc:
            bad = next(type(v).__name__ for v in series if not _hashable(v))
            raise TypeError(
                f"Feature column {label!r}: each categorical argument must be a bool, a "
                f"string or a number, got {bad}."
            ) from exc
        return cls(values, label, _family(values))

    def transform(self, series: pd.Series, *, mixed_ok: bool = False) -> np.ndarray:
        """The codes of ``series``; ``mixed_ok``: values of fit's type mixed with others (say
        ints and strs) are coded, the others as unseen, instead of refused."""
        family = _family(series)
        if None not in (family, self.family) and family != self.family:
            raise ValueError(
                f"Column {self.label!r} held {self.family} in fit but holds {family} now "
                f"(dtype {series.dtype}): no value would match one seen in fit, so every row "
                f"would be served as unseen. Convert it back to {self.family}."
            )
        mixed = None if family or not self.family or mixed_ok else _numbers_and_strings(series)
        if mixed:
            raise ValueError(
                f"Column {self.label!r} held {self.family} in fit but mixes numbers and strings "
                f"now (such as {mixed[0]!r} and {mixed[1]!r}): the values that are not "
                f"{self.family} would match none seen in fit and be served as unseen. Convert it "
                f"back to {self.family}."
            )
        if series.dtype == bool:
            # two values to look up, not one per row
            return (self.values.get_indexer([False, True]) + 1)[series.to_numpy().view(np.uint8)]
        if family == "strings" and len(self.values) <= _FEW_VALUES:
            # each distinct string hashed once, not every row's string matched; string ids,
            # mostly distinct, would pay for the factorizing and save nothing, so they keep the
            # row-by-row match
            rows, distinct = pd.factorize(series)
            return np.append(self.values.get_indexer(distinct) + 1, 0)[rows]  # missing: 0
        return self.values.get_indexer(series) + 1

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def from_state(cls, state: dict | None, field: str) -> _Codebook | None:
        """The codebook of ``vars(codebook)`` read back from a file, checked."""
        if state is None:
            return None
        book = cls(**expect_keys(state, ("values", "label", "family"), field))
        if not isinstance(book.values, pd.Index) or not book.values.is_unique:
            raise ValueError(f"{field}.values must be an index of distinct values")
        if book.values.hasnans:
            raise ValueError(f"{field}.values holds a missing value")
        if book.family != _family(book.values):
            raise ValueError(f"{field}.family is {book.family!r}, not that of its values")
        return book


def _check_ids(series: pd.Series, label, role: str) -> None:
    """Ids must be present: a missing or infinite id is an error, an unseen one is not."""
    bad = series.isna().to_numpy()
    if pd.api.types.is_float_dtype(series):
        bad = bad | np.isinf(series.to_numpy())
    if bad.any():
        raise ValueError(
            f"The {role} id column {label!r} contains NaN or infinity (row {int(bad.argmax())}); "
            "every row needs an id. A new id is fine: it is served from the features."
        )


def _check_one_type(series: pd.Series, label, role: str) -> None:
    """Ids in fit must not mix numbers and strings: 7 and "7" would be two ids."""
    mixed = _numbers_and_strings(series)
    if mixed:
        raise ValueError(
            f"The {role} id column {label!r} mixes numbers and strings (such as {mixed[0]!r} "
            f"and {mixed[1]!r}), so {mixed[0]!r} and {str(mixed[0])!r} would be two different "
            f"{role}s. Convert the column to one type, e.g. X[{label!r}].astype(str)."
        )


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


_ENCODER_STATE = (
    "user_col",
    "item_col",
    "user_label",
    "item_label",
    "numeric_labels",
    "categorical_labels",
    "user_codes",
    "item_codes",
    "categorical_codes",
    "mean",
    "scale",
)


class FeatureEncoder:
    """Learns the id, categorical and numeric columns of X and turns X into network inputs.

    ``transform`` returns a dict of arrays that is the keyword input of the network:
    ``user`` and ``item`` (int64 codes), ``categorical`` (int64 codes, one column per
    categorical feature) and ``numeric`` (float32, standardized).
    """

    def __init__(self, user_col: _Column | None, item_col: _Column | None):
        self.user_col = user_col
        self.item_col = item_col

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        self.user_label = self._label(frame, self.user_col, "user")
        self.item_label = self._label(frame, self.item_col, "item")
        if self.user_label is not None and self.user_label == self.item_label:
            raise ValueError(f"`user_col` and `item_col` name the same column {self.user_label!r}.")
        for label, role in ((self.user_label, "user"), (self.item_label, "item")):
            if label is not None:
                _check_one_type(frame[label], label, role)
        ids = {self.user_label, self.item_label} - {None}
        features = [c for c in frame.columns if c not in ids]
        self.numeric_labels = [
            c for c in features if _is_numeric(frame[c]) and not _is_flag(frame[c])
        ]
        self.categorical_labels = [c for c in features if c not in self.numeric_labels]
        self.user_codes = (
            _Codebook.fit(frame[self.user_label], self.user_label)
            if (self.user_label is not None)
            else None
        )
        self.item_codes = (
            _Codebook.fit(frame[self.item_label], self.item_label)
            if (self.item_label is not None)
            else None
        )
        self.categorical_codes = [_Codebook.fit(frame[c], c) for c in self.categorical_labels]
        numeric = self._numeric(frame)
        with np.errstate(over="ignore", invalid="ignore"):
            self.mean = numeric.mean(axis=0)
            std = numeric.std(axis=0)
        self.scale = np.where(std > 0, std, 1.0)
        self._check_scaled(numeric)
        return self

    def _check_scaled(self, numeric: np.ndarray) -> np.ndarray:
        """The standardized values, or a ValueError naming a column whose finite values
        overflow when standardized (or in float32, the network's precision)."""
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = ((numeric - self.mean) / self.scale).astype(np.float32)
        finite = np.isfinite(scaled).all(axis=0)
        if not finite.all():
            col = self.numeric_labels[int(np.argmin(finite))]
            raise ValueError(
                f"Numeric feature column {col!r} has values too large to standardize (up to "
                f"{np.abs(numeric[:, int(np.argmin(finite))]).max():.3g}); rescale it (a log "
                "transform, say) or make it categorical."
            )
        return scaled

    def state(self) -> dict:
        """What fit learned, as plain values, arrays and indexes (``from_state`` takes it)."""

        def book(codes: _Codebook | None) -> dict | None:
            return None if codes is None else vars(codes).copy()

        state = vars(self).copy()
        for name in ("user_codes", "item_codes"):
            state[name] = book(state[name])
        state["categorical_codes"] = [book(codes) for codes in self.categorical_codes]
        return state

    @classmethod
    def from_state(cls, state: dict) -> FeatureEncoder:
        """The fitted encoder of ``state()``."""

        state = expect_keys(state, _ENCODER_STATE, "encoder")
        encoder = cls(state["user_col"], state["item_col"])
        encoder.__dict__.update(state)
        for name in ("user_codes", "item_codes"):
            setattr(encoder, name, _Codebook.from_state(state[name], f"encoder.{name}"))
        for name in ("numeric_labels", "categorical_labels", "categorical_codes"):
            if not isinstance(state[name], list):
                raise ValueError(f"encoder.{name} must be a list")
        if len(state["categorical_codes"]) != len(state["categorical_labels"]):
            raise ValueError("encoder.categorical_codes has one codebook per categorical column")
        encoder.categorical_codes = [
            _Codebook.from_state(values, f"encoder.categorical_codes[{j}]")
            for j, values in enumerate(state["categorical_codes"])
        ]
        n = len(encoder.numeric_labels)
        expect_array(state["mean"], "encoder.mean", kinds="f", ndim=1, length=n)
        expect_array(state["scale"], "encoder.scale", kinds="f", ndim=1, length=n)
        if (state["scale"] <= 0).any():
            raise ValueError("encoder.scale holds a scale that is not positive")
        return encoder

    @staticmethod
    def _label(frame, column, role):
        return None if column is None else column_label(frame, column, role)

    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.numeric_labels:
            return np.zeros((len(frame), 0))
        for c in self.numeric_labels:
            if not _is_numeric(frame[c]):
                raise ValueError(
                    f"Feature column {c!r} was numeric in fit but has dtype {frame[c].dtype} now."
                )
        values = frame[self.numeric_labels].to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.all():
            col = self.numeric_labels[int(np.argmin(finite.all(axis=0)))]
            raise ValueError(
                f"Input X contains NaN or infinity in numeric feature column {col!r}. "
                "Impute or drop those values, or make the column categorical."
            )
        return values

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(len(codes) for codes in self.categorical_codes)

    @property
    def n_users(self) -> int:
        return 0 if self.user_codes is None else len(self.user_codes)

    @property
    def n_items(self) -> int:
        return 0 if self.item_codes is None else len(self.item_codes)

    def complete(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with every missing feature column added at its neutral value: the fit mean
        for a numeric column, unknown for a categorical one. For rows that describe only a
        user or an item (``recommend``), whose other columns do not matter."""
        frame = frame.copy()
        for j, c in enumerate(self.numeric_labels):
            if c not in frame:
                frame[c] = self.mean[j]
        for c in self.categorical_labels:
            if c not in frame:
                frame[c] = None
        return frame

    def transform_features(
        self, frame: pd.DataFrame, row_major: bool = True
    ) -> dict[str, np.ndarray]:
        """The ``numeric`` and ``categorical`` inputs of ``frame``, without its ids; with
        ``row_major=False`` the categorical codes come column-major (a column's codes
        contiguous), as reading columns wants, without the cost of transposing them."""
        # filled a column per row of its transpose: writing the columns of a row-major array
        # in place strides across memory
        categorical = np.zeros((len(self.categorical_labels), len(frame)), dtype=np.int64)
        for j, (label, codes) in enumerate(
            zip(self.categorical_labels, self.categorical_codes, strict=True)
        ):
            _check_finite_numbers(frame[label], label)
            categorical[j] = codes.transform(frame[label])
        return {
            "numeric": self._check_scaled(self._numeric(frame)),
            "categorical": np.ascontiguousarray(categorical.T) if row_major else categorical.T,
        }

    def transform(self, frame: pd.DataFrame, row_major: bool = True) -> dict[str, np.ndarray]:
        needed = [self.user_label, self.item_label, *self.categorical_labels]
        missing = [c for c in needed + self.numeric_labels if c is not None and c not in frame]
        if missing:
            raise ValueError(f"X is missing column(s) {missing} that were present in fit.")
        inputs = self.transform_features(frame, row_major)
        for codes, label, role in (
            (self.user_codes, self.user_label, "user"),
            (self.item_codes, self.item_label, "item"),
        ):
            if codes is not None:
                _check_ids(frame[label], label, role)
        if self.user_codes is not None:
            inputs["user"] = self.user_codes.transform(frame[self.user_label]).astype(np.int64)
        if self.item_codes is not None:
            inputs["item"] = self.item_codes.transform(frame[self.item_label]).astype(np.int64)
        return inputs
