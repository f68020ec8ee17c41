"""A closed-form graph filter of the training interactions, part of the retrieval score.

GF-CF (Shen et al., CIKM 2021) scores items for a user from the user-item graph alone: with
``R`` the binary user x item matrix of the retrieval task's positive rows, ``Rn = Du^-1/2 R
Di^-1/2`` its degree-normalized form, ``P = Rn^T Rn`` and ``V`` the top right singular vectors
of ``Rn`` (as columns), a user's row ``r`` scores the items by

    s = r P  +  ideal_weight * r Di^-1/2 V V^T Di^1/2.

``r P`` is a linear low-pass filter, full rank: the items that share users with the user's
items, each shared user weighed down by the degrees on both sides (an item-item
neighbourhood). The second term is an ideal low-pass filter, the projection onto the smooth
part of the graph. BSPM (Choi et al., SIGIR 2023) then sharpens the blurred scores by a step
back along the same diffusion, ``s - sharpening * s P``, which lifts what is specific to the
user over what every user shares (popular items). Here the step is taken along ``P``'s top
components only, ``V diag(sigma^2) V^T``, which costs one product of width ``V`` instead of
two sparse products per user and ranks as well as the full step on Gowalla's validation split.

Nothing is trained; fit takes one truncated SVD (randomized, Halko et al., 2011). The filter has
no vectors of a fixed width, which is what a 64-wide tower trained for a few epochs lacks: the
full-rank co-occurrences of a large, sparse catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from .._persistence.state_checks import expect_array, expect_csr, expect_int, expect_keys

# The weight of the ideal low-pass filter beside the linear one (GF-CF's), and the size of the
# sharpening step: chosen on a validation split of Gowalla (benchmarks/README.md).
IDEAL_WEIGHT = 0.3
SHARPENING = 1.0
# The singular vectors of the ideal filter and of the sharpening step (GF-CF's number)
N_COMPONENTS = 256
# Values of users' dense reach over the fit users held at once while scoring (64 MB)
_REACH_PER_CHUNK = 1 << 24
# Power iterations of the randomized SVD: enough for the top singular vectors of a sparse
# interaction matrix to settle (scikit-learn's default for a few components).
_POWER_ITERATIONS = 4


class GraphFilter:
    """GF-CF's scores of every item of the catalog for users given by their interactions.

    Parameters
    ----------
    matrix : sparse matrix of shape (n_users + 1, n_items + 1)
        The binary interactions in codes (row and column 0, the unseen user and item, empty).
    components : ndarray of shape (n_components, n_items + 1)
        The top right singular vectors of the degree-normalized ``matrix``, as rows.
    singular_values : ndarray of shape (n_components,)
        Their singular values.
    """

    def __init__(self, matrix: sp.csr_matrix, components: np.ndarray, singular_values: np.ndarray):
        self.matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self._normalized = _degree_normalized(self.matrix)
        self._normalized_t = sp.csr_matrix(self._normalized.T)
        self._set_components(components, singular_values)

    def _set_components(self, components: np.ndarray, singular_values: np.ndarray) -> None:
        """Keep the singular vectors and what scoring derives from them."""
        self.components = np.asarray(components, dtype=np.float32)
        self.singular_values = np.asarray(singular_values, dtype=np.float32)
        item_degree = np.asarray(self.matrix.sum(axis=0)).ravel()
        item_scale = 1.0 / np.sqrt(np.maximum(item_degree, 1.0))
        # the ideal filter r Di^-1/2 V V^T Di^1/2 is (r @ into.T) @ out; s V (for the
        # sharpening step) is (r Rn^T) @ across + ideal_weight * (r @ into.T) @ back
        v = self.components
        self._into = (v * item_scale).astype(np.float32)
        out = (v * np.sqrt(item_degree)).astype(np.float32)
        self._across = np.asarray(self._normalized @ v.T, dtype=np.float32)
        self._back = out @ v.T
        self._out_and_v = np.vstack([out, v])

    @classmethod
    def fit(
        cls, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, n_components: int,
        seed: int,
    ) -> GraphFilter:  # fmt: skip
        """The filter of the (user code, item code) pairs ``users``, ``items`` (repeats count
        once), with up to ``n_components`` singular vectors."""
        shape = (n_users + 1, n_items + 1)
        ones = np.ones(len(users), dtype=np.float32)
        matrix = sp.csr_matrix((ones, (users, items)), shape=shape)
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        graph = cls(matrix, np.zeros((0, n_items + 1)), np.zeros(0))
        k = min(n_components, min(shape) - 1)
        if k > 0 and matrix.nnz:
            # the SVD of the normalized matrix the filter already holds
            _, sigma, vt = randomized_svd(
                graph._normalized, k, n_iter=_POWER_ITERATIONS, random_state=seed
            )
            graph._set_components(vt, sigma)
        return graph

    @property
    def n_items(self) -> int:
        """Items seen in fit (codes 1..n_items)."""
        return self.matrix.shape[1] - 1

    def user_rows(self, codes: np.ndarray) -> sp.csr_matrix:
        """The interactions of the users of ``codes`` (code 0, a user new to fit: none)."""
        return self.matrix[np.asarray(codes, dtype=np.int64)]

    def scores(self, rows: sp.spmatrix) -> np.ndarray:
        """Every item code's score (column 0, the unseen item: 0) for users whose interactions
        are the binary rows of ``rows``, shape (n, n_items + 1): dense float32 (a transposed
        view of an item-major array)."""
        rows = sp.csr_matrix(rows, dtype=np.float32)
        # each user's reach over the fit users is held dense: this many values at a time
        per_chunk = max(1, _REACH_PER_CHUNK // self.matrix.shape[0])
        if rows.shape[0] <= per_chunk:
            return self._item_major(rows).T
        out = np.empty((self.matrix.shape[1], rows.shape[0]), dtype=np.float32)
        for start in range(0, rows.shape[0], per_chunk):
            stop = min(start + per_chunk, rows.shape[0])
            out[:, start:stop] = self._item_major(rows[start:stop])
        return out.T

    def _item_major(self, rows: sp.csr_matrix) -> np.ndarray:
        """``scores`` of ``rows``, item-major: (n_items + 1, n)."""
        # r Rn^T reaches most users from a few popular items, so it is taken dense: the next
        # products are then a sparse matrix times a dense one, and a dense one (BLAS), instead
        # of a sparse product with a dense result; item-major, each writes contiguously
        users = (rows @ self._normalized_t).toarray()
        out = np.asarray(self._normalized_t @ users.T, dtype=np.float32)  # (r P)^T
        if len(self.components):
            ideal = np.asarray(rows @ self._into.T, dtype=np.float32)
            blurred = users @ self._across + IDEAL_WEIGHT * (ideal @ self._back)  # s V
            sharpened = -SHARPENING * blurred * self.singular_values**2
            out += self._out_and_v.T @ np.hstack([IDEAL_WEIGHT * ideal, sharpened]).T
        out[0] = 0.0
        return out

    def state(self) -> dict:
        return {
            "shape": list(self.matrix.shape),
            "indptr": self.matrix.indptr.astype(np.int64),
            "indices": self.matrix.indices.astype(np.int32),
            "components": self.components,
            "singular_values": self.singular_values,
        }

    @classmethod
    def from_state(cls, state: dict, field: str = "graph") -> GraphFilter:
        """The filter of ``state()``, checked (it may come from a file)."""
        keys = ("shape", "indptr", "indices", "components", "singular_values")
        state = expect_keys(state, keys, field)
        shape = state["shape"]
        if not isinstance(shape, list) or len(shape) != 2:
            raise ValueError(f"{field}.shape must be a list of two ints")
        n_rows, n_columns = (expect_int(n, f"{field}.shape") for n in shape)
        indptr, indices = state["indptr"], state["indices"]
        expect_csr(indptr, indices, n_rows, n_columns, field)
        components = expect_array(state["components"], f"{field}.components", kinds="f", ndim=2)
        if components.shape[1] != n_columns:
            raise ValueError(f"{field}.components must have {n_columns} columns")
        sigma = expect_array(
            state["singular_values"], f"{field}.singular_values", kinds="f", ndim=1,
            length=len(components),
        )  # fmt: skip
        ones = np.ones(len(indices), dtype=np.float32)
        matrix = sp.csr_matrix((ones, indices, indptr), shape=(n_rows, n_columns))
        return cls(matrix, components, sigma)


def _degree_normalized(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``Du^-1/2 R Di^-1/2`` of the binary ``matrix``, float32 (a row or column without an
    interaction stays empty)."""
    user_degree = np.asarray(matrix.sum(axis=1)).ravel()
    item_degree = np.asarray(matrix.sum(axis=0)).ravel()
    user_scale = 1.0 / np.sqrt(np.maximum(user_degree, 1.0))
    item_scale = 1.0 / np.sqrt(np.maximum(item_degree, 1.0))
    normalized = sp.diags(user_scale) @ matrix @ sp.diags(item_scale)
    return sp.csr_matrix(normalized, dtype=np.float32)


@dataclass
class RetrievalGraph:
    """The graph filter of the retrieval task's interactions, and its weight in the task's score
    (see ``GraphBlend``).

    Parameters
    ----------
    task : str
        The retrieval task (dot-scored) whose positive rows the filter holds.
    filter : GraphFilter
        The filter.
    weight : float
        The weight of the filter's standardized score beside the towers' (0: not used).
    """

    task: str
    filter: GraphFilter
    weight: float

    @classmethod
    def fit(
        cls, tasks, spec: dict, inputs: dict, y_encoded: np.ndarray, first_columns, weight: float,
        seed: int,
    ) -> RetrievalGraph | None:  # fmt: skip
        """The filter of the first dot-scored task of the ``spec``'s tasks (``tasks``, with their
        first columns in ``y_encoded``), from its rows labelled 1; None without such a task,
        without user and item ids or at a weight of 0."""
        dot = [j for j, task in enumerate(spec["tasks"]) if task.get("scorer") == "dot"]
        if not (weight > 0 and dot and "user" in inputs and "item" in inputs):
            return None
        j = dot[0]
        positive = y_encoded[:, first_columns[j]] == 1
        graph = GraphFilter.fit(
            inputs["user"][positive], inputs["item"][positive], spec["inputs"]["n_users"],
            spec["inputs"]["n_items"], N_COMPONENTS, seed,
        )  # fmt: skip
        return cls(tasks[j].name, graph, weight)

    def state(self) -> dict:
        return {"task": self.task, "weight": self.weight, **self.filter.state()}

    @classmethod
    def from_state(cls, state, field: str = "graph") -> RetrievalGraph:
        """The graph of ``state()``, checked (it may come from a file)."""
        if not isinstance(state, dict) or not isinstance(state.get("task"), str):
            raise ValueError(f"{field} must be a mapping with a task name")
        weight = state.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValueError(f"{field}.weight must be a number; it is {weight!r}")
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"{field}.weight must be finite and at least 0; it is {weight!r}")
        rest = {key: value for key, value in state.items() if key not in ("task", "weight")}
        return cls(state["task"], GraphFilter.from_state(rest, field), float(weight))
