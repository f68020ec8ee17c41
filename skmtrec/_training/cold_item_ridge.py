"""A closed-form content model of a regression task, for items new to fit.

The network places a new item by its features, through layers that SGD trained on the
catalog's rows. A ridge regression per user on the item's content finds each user's content
preferences (old films, dramas) exactly from that user's ratings, which the network does not.
The two models err in different ways on new items, so the mean of the two rates them better
than either alone.

The model: the global mean; the user's mean offset from it; an item offset regressed on the
content (each item's mean residual shrunk toward 0 as if it had ``ITEM_SHRINKAGE`` more ratings,
so that rare items count less); and, per user, a ridge of what remains on the same content,
its penalties (one for the numeric columns, one for the categorical levels) chosen on a share
of the items held out of the fit. Item
features have one value per item, so fit reads each item's content once: a user's Gram matrix
is a sum of their items' outer products, taken in blocks of users and items, so that memory
holds a block, never the rows or the users times the width squared.

A wide numeric side (a text embedding) enters through the few directions along which the
users' tastes differ most (see ``taste_projection``), not through its principal components:
the components keep what varies most across items, and much of that (how a title is worded)
no user rates.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._persistence.state_checks import expect_array, expect_int, expect_keys

# A wide numeric side (a text embedding) enters through this many taste directions: a user's
# ratings can place a weight on a few directions, not on every column. Fewer directions miss
# finer tastes; more fit noise for users with few ratings.
COMPONENTS = 16
# Categorical item features enter one-hot, in column order, while the design stays this wide;
# the others (and any with more values than that) are left to the network.
MAX_WIDTH = 64
# An item's mean residual is shrunk toward 0 as if it had this many more ratings (of residual 0),
# so that the item offsets trust rare items less; raise it where items have few, noisy ratings.
ITEM_SHRINKAGE = 25.0
# Ridge penalty of the item-offset regression on the content (one model shared by every item).
ITEM_PENALTY = 1.0
# The per-user ridge penalties that fit chooses from, for the numeric and the categorical columns
# apart: a larger one pulls a user with few ratings toward the item offsets shared by everyone.
PENALTIES = (10.0, 30.0, 100.0, 300.0, 1000.0)
# Share of the items whose rows fit holds out to choose the penalties, in (0, 1).
HELD_OUT_ITEMS = 0.2
# The penalties are scored on the held-out rows of at most this many users, drawn at random: the
# error estimate needs a sample, and each scored user costs a solve per pair of penalties.
SCORED_USERS = 4096
# numbers of outer products (and of Gram matrices) held at once: 2**25 float64 is 256 MiB
_BLOCK_FLOATS = 2**25
# rows whose design is built at once in predict
_BLOCK_ROWS = 2**16


class ItemContent:
    """The design matrix of the item-side features: numeric ones (their ``COMPONENTS``
    taste directions where there are more columns), categorical ones one-hot while the width
    stays within ``MAX_WIDTH``, and a constant.

    Parameters
    ----------
    numeric, categorical : list of int
        The item side's columns of the encoded ``numeric`` and ``categorical`` inputs.
    levels : list of int
        The number of values (codes past 0) of each of ``categorical``.
    """

    def __init__(self, numeric: list[int], categorical: list[int], levels: list[int]):
        self.numeric = list(numeric)
        self.categorical, self.levels = [], []
        width = min(len(self.numeric), COMPONENTS) + 1
        for column, n in zip(categorical, levels, strict=True):
            if width + n <= MAX_WIDTH:
                self.categorical.append(column)
                self.levels.append(n)
                width += n
        self.projection: np.ndarray | None = None

    def fit(
        self,
        items: dict[str, np.ndarray],
        users: np.ndarray,
        item_index: np.ndarray,
        residuals: np.ndarray,
    ) -> ItemContent:
        """Fit the taste directions of the numeric columns, where they outnumber
        ``COMPONENTS``. ``items`` holds one row per item; each rated row is a user, the index
        of its item's row in ``items``, and its value past the global mean and the user's
        mean offset."""
        self.projection = None
        if len(self.numeric) > COMPONENTS:
            content = items["numeric"][:, self.numeric].astype(np.float64)
            self.projection = taste_projection(content, users, item_index, residuals, COMPONENTS)
        return self

    @property
    def width(self) -> int:
        """The design's width, the same before and after ``fit``."""
        if self.projection is None:
            numeric = min(len(self.numeric), COMPONENTS)
        else:  # a model saved with fewer components keeps its own
            numeric = self.projection.shape[1]
        return numeric + sum(self.levels) + 1

    @property
    def categorical_columns(self) -> np.ndarray:
        """Whether each design column is a categorical feature's level (else numeric or the
        constant): the two groups are penalized apart."""
        numeric = self.width - sum(self.levels) - 1
        return np.r_[np.zeros(numeric, bool), np.ones(sum(self.levels), bool), False]

    def transform(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """(n_rows, width) float64: the content of each row's item."""
        numeric = inputs["numeric"][:, self.numeric].astype(np.float64)
        if self.projection is not None:
            numeric = numeric @ self.projection
        parts = [numeric]
        for column, n in zip(self.categorical, self.levels, strict=True):
            # code 0 (a value unseen in fit) is no level: a row of zeros
            parts.append(np.eye(n + 1)[inputs["categorical"][:, column]][:, 1:])
        parts.append(np.ones((len(numeric), 1)))
        return np.hstack(parts)

    def state(self) -> dict:
        return dict(vars(self))

    @classmethod
    def from_state(cls, state: dict, field: str = "content") -> ItemContent:
        """The content of ``state()``, checked (it may come from a file)."""
        content = cls.__new__(cls)
        content.__dict__.update(
            expect_keys(state, ("numeric", "categorical", "levels", "projection"), field)
        )
        for name in ("numeric", "categorical", "levels"):
            value = getattr(content, name)
            if not isinstance(value, list):
                raise ValueError(f"{field}.{name} must be a list of ints")
            for j, n in enumerate(value):
                expect_int(n, f"{field}.{name}[{j}]")
        if len(content.levels) != len(content.categorical):
            raise ValueError(f"{field}.levels has one entry per categorical column")
        if content.projection is not None:
            n = len(content.numeric)
            expect_array(content.projection, f"{field}.projection", kinds="f", ndim=2, length=n)
        return content


class ColdItemRidge:
    """Predicts one regression task for (user, item) rows from the item's content alone.

    Parameters
    ----------
    content : ItemContent
        The design of the item features; ``fit`` fits it, so each ridge needs its own.
    n_users : int
        User codes run from 0 (unseen) to ``n_users``.
    """

    def __init__(self, content: ItemContent, n_users: int):
        self.content = content
        self.n_users = n_users

    def fit(self, inputs: dict[str, np.ndarray], values: np.ndarray, seed: int) -> ColdItemRidge:
        """Fit the content and the model on the rows of ``inputs`` whose ``values`` are not
        missing; the per-user penalties (one of ``PENALTIES`` for the numeric columns and the
        constant, one for the categorical levels) are those that rate best the items a
        ``seed``-drawn ``HELD_OUT_ITEMS`` share of them hides, refitted on every row."""
        present = ~np.isnan(values)
        users, values = inputs["user"][present], values[present].astype(np.float64)
        _, first, per_row = np.unique(
            inputs["item"][present], return_index=True, return_inverse=True
        )
        # an item's features have one value per item: its first row gives its content
        rows = np.flatnonzero(present)[first]
        items = {key: column[rows] for key, column in inputs.items()}
        grid = self._penalty_grid()
        n_held = int(HELD_OUT_ITEMS * len(first))
        if n_held == 0 or n_held == len(first):
            self.penalties = grid[len(grid) // 2]
        else:
            random_state = np.random.RandomState(seed)
            held = np.isin(per_row, random_state.choice(len(first), n_held, replace=False))
            scored = held
            held_users = np.unique(users[held])
            if len(held_users) > SCORED_USERS:
                drawn = random_state.choice(held_users, SCORED_USERS, replace=False)
                scored = held & np.isin(users, drawn)
            # the held-out items' values take no part, the taste directions included
            kept = ~held
            design = self._fitted_design(items, users[kept], per_row[kept], values[kept])
            diagonals = [self._diagonal(penalties) for penalties in grid]
            errors = self._held_out_errors(users, per_row, design, values, held, scored, diagonals)
            self.penalties = grid[int(np.argmin(errors))]
        design = self._fitted_design(items, users, per_row, values)
        offsets = self._offsets(users, per_row, design, values)
        self.mean, self.user_offset, self.item_weights, rest = offsets
        self.user_weights = np.zeros((self.n_users + 1, design.shape[1]), dtype=np.float32)
        diagonal = self._diagonal(self.penalties)
        for block, grams, rhs in self._user_systems(users, per_row, design, rest):
            self.user_weights[block] = _solve(grams, diagonal, rhs)
        return self

    def predict(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The task's value for each row of ``inputs``, as if its item were new."""
        out = np.empty(len(inputs["user"]))
        for start in range(0, len(out), _BLOCK_ROWS):
            block = {key: column[start : start + _BLOCK_ROWS] for key, column in inputs.items()}
            design = self.content.transform(block)
            users = block["user"]
            out[start : start + len(design)] = (
                self.mean
                + self.user_offset[users]
                + design @ self.item_weights
                + np.einsum("nd,nd->n", design, self.user_weights[users])
            )
        return out

    def predict_pairs(self, users: np.ndarray, design: np.ndarray) -> np.ndarray:
        """(n_users, n_items): the task's value for every pair of ``users`` (codes) and the
        new items whose content is ``design`` (``ItemContent.transform``)."""
        return (
            self.mean
            + self.user_offset[users][:, None]
            + (design @ self.item_weights)[None, :]
            + self.user_weights[users] @ design.T
        )

    def _penalty_grid(self) -> list[tuple[float, float]]:
        """(numeric, categorical) penalties to choose from; one value where a group is empty."""
        categorical = self.content.categorical_columns
        numeric_options = PENALTIES if (~categorical[:-1]).any() else PENALTIES[1:2]
        categorical_options = PENALTIES if categorical.any() else PENALTIES[1:2]
        return [(a, b) for a in numeric_options for b in categorical_options]

    def _diagonal(self, penalties: tuple[float, float]) -> np.ndarray:
        return np.where(self.content.categorical_columns, penalties[1], penalties[0])

    def _held_out_errors(self, users, items, design, values, held, scored, diagonals):
        """Squared error summed over the ``scored`` rows (some of the ``held`` ones) of the
        model fitted on the rows not ``held``, for each of the penalty ``diagonals``."""
        mean, user_offset, item_weights, rest = self._offsets(
            users[~held], items[~held], design, values[~held]
        )
        order = np.flatnonzero(scored)[np.argsort(users[scored], kind="stable")]
        owners = users[order]
        residual = (
            values[order] - mean - user_offset[owners] - (design @ item_weights)[items[order]]
        )
        errors = np.zeros(len(diagonals))
        systems = self._user_systems(users[~held], items[~held], design, rest)
        for block, grams, rhs in systems:
            lo, hi = np.searchsorted(owners, [block.start, block.stop])
            if lo == hi:
                continue
            rows = design[items[order[lo:hi]]]
            # only the users scored here are solved for
            needed, owner = np.unique(owners[lo:hi] - block.start, return_inverse=True)
            for g, diagonal in enumerate(diagonals):
                weights = _solve(grams[needed], diagonal, rhs[needed])
                predicted = np.einsum("nd,nd->n", rows, weights[owner])
                errors[g] += np.sum((residual[lo:hi] - predicted) ** 2)
        return errors

    def _fitted_design(self, items, users, item_index, values) -> np.ndarray:
        """Each of ``items``' design rows, the content fitted to the rows (``users``,
        ``item_index`` into ``items``, ``values``)."""
        rest = self._user_offsets(users, values)[2]
        return self.content.fit(items, users, item_index, rest).transform(items)

    def _user_offsets(self, users, values):
        """The global mean, the users' mean offsets from it, and what remains of each row."""
        mean = float(values.mean())
        counts = np.bincount(users, minlength=self.n_users + 1)
        sums = np.bincount(users, values - mean, minlength=self.n_users + 1)
        user_offset = sums / np.maximum(counts, 1)
        return mean, user_offset, values - mean - user_offset[users]

    def _offsets(self, users, items, design, values):
        """The global mean, the users' offsets, the content's item weights and what remains
        of each row, from the rows (``users``, ``items``), ``items`` indexing ``design``."""
        mean, user_offset, rest = self._user_offsets(users, values)
        n = np.bincount(items, minlength=len(design)).astype(np.float64)
        target = np.bincount(items, rest, minlength=len(design)) / (n + ITEM_SHRINKAGE)
        weight = n / (n + ITEM_SHRINKAGE)  # 0 for an item without rows here
        gram = (design * weight[:, None]).T @ design
        item_weights = np.linalg.solve(
            gram + ITEM_PENALTY * np.eye(design.shape[1]), design.T @ (weight * target)
        )
        return mean, user_offset, item_weights, rest - (design @ item_weights)[items]

    def _user_systems(self, users, items, design, rest):
        """(a slice of users, their Gram matrices, their right-hand sides) over every user."""
        shape = (self.n_users + 1, len(design))
        pairs = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=shape)
        rhs = sp.csr_matrix((rest, (users, items)), shape=shape) @ design
        for block, grams in _user_grams(pairs, design):
            yield block, grams, rhs[block]

    def state(self) -> dict:
        state = {k: v for k, v in vars(self).items() if k != "content"}
        return {**state, "content": self.content.state()}

    @classmethod
    def from_state(cls, state: dict, field: str = "cold_ridge") -> ColdItemRidge:
        """The ridge of ``state()``, checked (it may come from a file)."""
        keys = ("content", "n_users", "penalties", "mean", "user_offset", "item_weights")
        state = expect_keys(state, (*keys, "user_weights"), field)
        content = ItemContent.from_state(state["content"], f"{field}.content")
        ridge = cls(content, expect_int(state["n_users"], f"{field}.n_users"))
        ridge.__dict__.update({k: v for k, v in state.items() if k != "content"})
        width, n = content.width, ridge.n_users + 1
        if not isinstance(ridge.mean, float) or not np.isfinite(ridge.mean):
            raise ValueError(f"{field}.mean must be a finite float")
        expect_array(ridge.user_offset, f"{field}.user_offset", kinds="f", ndim=1, length=n)
        expect_array(ridge.item_weights, f"{field}.item_weights", kinds="f", ndim=1, length=width)
        expect_array(ridge.user_weights, f"{field}.user_weights", kinds="f", ndim=2, length=n)
        if ridge.user_weights.shape[1] != width:
            raise ValueError(f"{field}.user_weights must have {width} columns")
        return ridge


def taste_projection(
    content: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    residuals: np.ndarray,
    n_components: int,
) -> np.ndarray:
    """(n_columns, n_components) that maps items' numeric ``content`` onto the directions
    along which the users' tastes differ most, each scaled to unit variance over the items.

    A user's taste is the mean over their rows of the row's ``residual`` (its value past the
    global mean and the user's mean offset) times its item's centred content: the way the
    items they rate above their mean lean. The directions are the leading eigenvectors of the
    sum of the tastes' outer products, taken in blocks of users. One that no taste leans along
    (past the number of users with a taste) or with no variance over the items gets no weight.
    """
    n_users, width = int(users.max()) + 1, content.shape[1]
    centered = content - content.mean(axis=0)
    counts = np.bincount(users, minlength=n_users)
    shape = (n_users, len(content))
    weights = sp.csr_matrix((residuals / counts[users], (users, items)), shape=shape)
    gram = np.zeros((width, width))
    step = max(1, _BLOCK_FLOATS // width)
    for start in range(0, n_users, step):
        tastes = weights[start : start + step] @ centered
        gram += tastes.T @ tastes
    k = min(n_components, width)
    leaning, directions = np.linalg.eigh(gram)  # smallest eigenvalue first
    leaning, directions = leaning[::-1][:k], directions[:, ::-1][:, :k]
    std = (centered @ directions).std(axis=0)
    kept = (std > 1e-8 * std.max()) & (leaning > 1e-8 * max(leaning[0], 0.0))
    scale = np.divide(1.0, std, out=np.zeros_like(std), where=kept)
    projection = np.zeros((width, n_components))
    projection[:, :k] = directions * scale
    return projection


def _solve(grams: np.ndarray, diagonal: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Each user's ridge weights: (grams + diag(diagonal))^-1 rhs."""
    return np.linalg.solve(grams + np.diag(diagonal), rhs[..., None])[..., 0]


def _user_grams(pairs: sp.csr_matrix, design: np.ndarray):
    """(a slice of users, their Gram matrices) over every user: each user's sum of the outer
    products of their items' ``design`` rows, counted as often as ``pairs`` has them. Users
    and items go in blocks that hold about ``_BLOCK_FLOATS`` numbers of outer products."""
    width = design.shape[1]
    step = max(1, _BLOCK_FLOATS // (width * width))

    def outer(start):
        rows = design[start : start + step]
        return np.einsum("ni,nj->nij", rows, rows).reshape(len(rows), -1)

    starts = range(0, len(design), step)
    whole = outer(0) if len(starts) == 1 else None  # computed once where the items fit
    for begin in range(0, pairs.shape[0], step):
        block = pairs[begin : begin + step]
        grams = np.zeros((block.shape[0], width * width))
        for start in starts:
            grams += block[:, start : start + step] @ (outer(start) if whole is None else whole)
        yield slice(begin, begin + block.shape[0]), grams.reshape(-1, width, width)
