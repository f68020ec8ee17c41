"""Users described by the items they interacted with (SVD++'s implicit feedback, FISM), and
items by the users who interacted with them.

A user's history is the set of items of its rows in fit, each with the labels the user gave it
(one standardized value per scalar task, 0 where missing); an item's is the set of its users,
with the same labels. A history is kept as CSR arrays (member codes per owner code), so memory
grows with the interactions, never with users x items. A batch pools the histories of its
distinct owners once: each entry's vector is its member's row of a table plus, per label, the
label times a second row; an owner's pooled vector is their sum scaled by ``1 / sqrt(n)``, as
SVD++ does. An owner with no history (unseen, code 0) pools to zero, the population. While
training, a row's own item (user) is left out of its user's (item's) history, so that the model
cannot learn to read the label from it.

Reading every entry of a batch's owners costs more per batch as the data grow (a popular item
has ever more users), so an epoch would cost the square of the rows. While training, an
owner with more than ``sample`` entries can instead be pooled from ``sample`` of them drawn at
random, each weighted by ``n / sample``: the sum is then an unbiased estimate of the full one, and
a batch reads at most ``sample`` entries per owner. Pooling is exact whenever that reads fewer
than ``1 / _FULL_PRODUCT_SHARE`` of the entries the full product reads, and always at predict
time.

What a batch's pooling reads (its distinct owners, their entries, the entries drawn) is planned
on the host (``History.plan``), from the owners' codes before they go up to the device and a host
copy of the CSR arrays: every size the device works with is then known to the host, so a training
step never waits for the device to report one (``torch.unique``, a sum read back, an output size
of ``repeat_interleave``). On a GPU such a read makes the host wait for every kernel queued.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import nn

from ._lookup import embed


@dataclass
class HistoryArrays:
    """Every (owner code, member code) row of fit, such as (user, item), with its labels
    (n_rows, n_values)."""

    owners: np.ndarray
    members: np.ndarray
    values: np.ndarray
    n_owners: int
    n_members: int

    @property
    def n_values(self) -> int:
        return self.values.shape[1]

    def arrays(self, rows=None) -> dict[str, np.ndarray]:
        """CSR arrays of each owner code's members (sorted, one entry per distinct member, with
        its first row's labels) over ``rows`` (all by default), as ``History`` keeps them."""
        rows = slice(None) if rows is None else rows
        width = self.n_members + 1
        owners = np.asarray(self.owners[rows], dtype=np.int64)
        keys = owners * width + np.asarray(self.members[rows], dtype=np.int64)
        keys, first = np.unique(keys, return_index=True)
        counts = np.bincount(keys // width, minlength=self.n_owners + 1)
        return {
            "indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "members": keys % width,
            "values": np.asarray(self.values[rows], dtype=np.float32)[first],
        }

    def transposed(self) -> HistoryArrays:
        """The same rows seen from the members' side: items' histories of users."""
        return HistoryArrays(self.members, self.owners, self.values, self.n_members, self.n_owners)


@dataclass
class PoolingPlan:
    """What pooling a batch's histories reads, planned on the host (``History.plan``).

    ``distinct`` are the batch's distinct owners (sorted), ``row_owner`` each row's position
    among them and ``lengths`` their entries. ``how`` is the path: ``"all"`` (one sparse
    product over every owner's history), ``"gathered"`` (each distinct owner's own entries) or
    ``"sampled"`` (entries drawn per owner while training). The gathered and sampled paths read
    the entries ``entry``, in owner order. Gathered adds the i-th of them to distinct owner
    ``owner[i]``. Sampled weighs the i-th by ``weight[i]`` in one sparse product: ``crow`` its
    rows' pointers, ``columns`` its column indices (member m's k-th table row is column
    ``m * (1 + n_values) + k``, m counted among ``table_rows``, the table rows read, when the
    table gives sparse gradients, else among every member) and ``n_columns`` its width; its
    transpose, for the gradient, has the rows' pointers ``transposed_crow`` and the columns
    ``transposed_columns``, its values being the product's in the order ``transposed_order``.
    """

    distinct: torch.Tensor
    row_owner: torch.Tensor
    lengths: torch.Tensor
    how: str
    entry: torch.Tensor | None = None
    owner: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    crow: torch.Tensor | None = None
    columns: torch.Tensor | None = None
    table_rows: torch.Tensor | None = None
    n_columns: int = 0
    transposed_crow: torch.Tensor | None = None
    transposed_columns: torch.Tensor | None = None
    transposed_order: torch.Tensor | None = None

    def to(self, move: Callable[[torch.Tensor], torch.Tensor]) -> PoolingPlan:
        """The plan with ``move`` (an upload to the device) applied to each tensor."""
        moved = {
            f.name: move(value)
            for f in fields(self)
            if isinstance(value := getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **moved)


# Pool through one sparse product over every owner's history once a batch's owners hold at least
# 1/_FULL_PRODUCT_SHARE of the entries, else gather the owners' own entries: it stands for how
# much more gathering costs per entry than the product (a batch with its sampled negatives may
# touch nearly every item). Larger favours the product; 1 takes it only where the batch's owners
# hold every entry.
_FULL_PRODUCT_SHARE = 8
# The history table's initial rows have norm about this on average (the id embeddings' are 1), so
# that an untrained history barely moves the vector it joins.
_INIT_SCALE = 0.1


class History(nn.Module):
    """Pools each owner's history (a user's items, an item's users) into a vector of width
    ``embedding_dim``.

    Parameters
    ----------
    n_members : int
        Members seen in fit (codes 1..n_members; 0 is the unseen one, never in a history).
    n_values : int
        Labels kept per history entry.
    embedding_dim : int
        Width of the pooled vector.
    arrays : dict or None
        ``HistoryArrays.arrays()``; kept as buffers outside the state dict (they are data, not
        weights) and replaced by ``set_arrays``.
    sample : int or None
        While training, the entries drawn per owner when pooling exactly would read at least
        ``_FULL_PRODUCT_SHARE`` times more (see the module's docstring); None: always exact.
    """

    def __init__(
        self,
        n_members: int,
        n_values: int,
        embedding_dim: int,
        arrays=None,
        sample: int | None = None,
    ):
        super().__init__()
        self.n_members, self.n_values, self.embedding_dim = n_members, n_values, embedding_dim
        self.sample = sample
        self.table = nn.Embedding(n_members + 1, embedding_dim * (1 + n_values))
        for name in ("indptr", "members", "values", "keys", "pooled"):
            self.register_buffer(name, None, persistent=False)
        self._matrix = self._matrix_of = None  # _weights_matrices() of the members built for
        if arrays is not None:
            self.set_arrays(arrays)

    def reset_parameters(self) -> None:
        # small rows: an untrained history starts as a small nudge to the id embedding
        nn.init.normal_(self.table.weight, std=_INIT_SCALE / math.sqrt(self.embedding_dim))

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        device = self.table.weight.device
        indptr = torch.as_tensor(arrays["indptr"], dtype=torch.long, device=device)
        self.indptr = indptr
        self.members = torch.as_tensor(arrays["members"], dtype=torch.long, device=device)
        self.values = torch.as_tensor(arrays["values"], dtype=torch.float32, device=device)
        codes = torch.arange(len(indptr) - 1, device=device)
        owners = torch.repeat_interleave(codes, indptr.diff())
        self.keys = owners * (self.n_members + 1) + self.members  # sorted: CSR rows in order

    def arrays(self) -> dict[str, np.ndarray]:
        """The CSR arrays kept, as numpy arrays (``set_arrays`` takes them back)."""
        return {name: getattr(self, name).cpu().numpy() for name in ("indptr", "members", "values")}

    @contextmanager
    def extended(self, extra: Sequence[np.ndarray]) -> Iterator[int]:
        """Serve, while in the context, one more owner per array of member codes in ``extra``
        (their labels unknown: 0, the mean); yields the first such owner's code, the next after
        the kept ones. The kept histories are restored on exit."""
        kept = {name: getattr(self, name) for name in ("indptr", "members", "values", "keys")}
        device = kept["members"].device
        extra = [
            torch.as_tensor(np.unique(np.asarray(m, dtype=np.int64)), device=device) for m in extra
        ]
        counts = torch.tensor([len(members) for members in extra], dtype=torch.long, device=device)
        first = len(kept["indptr"]) - 1
        members = torch.cat(extra) if extra else kept["members"][:0]
        owners = first + torch.repeat_interleave(torch.arange(len(extra), device=device), counts)
        self.indptr = torch.cat([kept["indptr"], kept["indptr"][-1] + counts.cumsum(0)])
        self.members = torch.cat([kept["members"], members])
        self.values = torch.cat(
            [kept["values"], kept["values"].new_zeros((len(members), self.n_values))]
        )
        self.keys = torch.cat([kept["keys"], owners * (self.n_members + 1) + members])
        try:
            yield first
        finally:
            for name, tensor in kept.items():
                setattr(self, name, tensor)

    @contextmanager
    def pooled_once(self) -> Iterator[None]:
        """While in the context, outside training, read every owner's pooled history from one
        table computed on entry (by one sparse product) instead of pooling per batch: for a
        predict call over many batches, and for an exported graph, which has no sparse
        products."""
        # the exact product whatever the module's mode: a module left in training mode (just
        # built by load, say) would otherwise sample long histories into the table
        lengths = self.indptr.diff().float().clamp(min=1)
        with torch.no_grad(), torch.autocast(self.indptr.device.type, enabled=False):
            self.pooled = self._all_sums() * lengths.rsqrt().unsqueeze(1)
        try:
            yield
        finally:
            self.pooled = None

    def __getstate__(self):
        # caches, rebuilt on use (an unpickled module holds new buffers, which they do not match)
        return {**super().__getstate__(), "_matrix": None, "_matrix_of": None, "_host_copies": {}}

    @property
    def serves_pooled(self) -> bool:
        """Whether the table pooled once (``pooled_once``) serves the owners, outside training
        and with nothing left out: then pooling needs no plan."""
        return self.pooled is not None and not self.training

    def plan(self, owners: torch.Tensor) -> PoolingPlan:
        """What pooling the histories of ``owners`` reads, worked out on the host: the distinct
        owners, the path and, for the gathered and sampled paths, the entries read (drawn at
        random while training, see the module's docstring). ``owners`` on a device are read back
        first; the plan's tensors are on the host (``PoolingPlan.to`` uploads them)."""
        owners = owners.cpu()
        distinct, row_owner = torch.unique(owners, return_inverse=True)
        indptr = self._on_host("indptr")
        starts = indptr[distinct]
        lengths = indptr[distinct + 1] - starts
        if self.training and self.sample is not None:
            drawn = lengths.clamp(max=self.sample)
            if _FULL_PRODUCT_SHARE * int(drawn.sum()) < len(self.members):
                return self._sampled_plan(distinct, row_owner, starts, lengths, drawn)
        if _FULL_PRODUCT_SHARE * int(lengths.sum()) >= len(self.members):
            return PoolingPlan(distinct, row_owner, lengths, "all")
        owner = torch.repeat_interleave(torch.arange(len(distinct)), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        entry = torch.arange(len(owner)) - first[owner] + starts[owner]
        return PoolingPlan(distinct, row_owner, lengths, "gathered", entry=entry, owner=owner)

    def _sampled_plan(self, distinct, row_owner, starts, lengths, drawn) -> PoolingPlan:
        """``drawn`` entries per owner: all of them for an owner with no more, else that many
        drawn with replacement, each weighted by ``length / drawn`` (unbiased); in owner
        order, the rows of one sparse product (CSR)."""
        owner = torch.repeat_interleave(torch.arange(len(starts)), drawn)
        slot = torch.arange(len(owner)) - (torch.cumsum(drawn, 0) - drawn)[owner]
        length = lengths[owner]
        over = length > drawn[owner]
        random = (torch.rand(len(owner)) * length).long().clamp(max=length - 1)
        entry = starts[owner] + torch.where(over, random, slot)
        weight = torch.where(over, length / drawn[owner], 1.0).to(self.values.dtype)
        width = 1 + self.n_values
        crow = torch.cat([drawn.new_zeros(1), torch.cumsum(drawn * width, 0)])
        members, table_rows, n_rows = self._on_host("members")[entry], None, len(self.table.weight)
        if self.table.sparse:
            # the product reads the drawn members' rows only, so that its sparse gradient holds
            # those rows and not the whole table
            table_rows, members = torch.unique(members, return_inverse=True)
            n_rows = len(table_rows)
        columns = self._columns(members)
        # the transpose, made here on the host: torch's backward of the product would transpose
        # and sort the matrix on the device at every step
        order = torch.argsort(columns, stable=True)
        per_column = torch.bincount(columns, minlength=n_rows * width)
        return PoolingPlan(
            distinct,
            row_owner,
            lengths,
            "sampled",
            entry=entry,
            weight=weight,
            crow=crow,
            columns=columns,
            table_rows=table_rows,
            n_columns=n_rows * width,
            transposed_crow=torch.cat([per_column.new_zeros(1), per_column.cumsum(0)]),
            transposed_columns=owner.repeat_interleave(width)[order],
            transposed_order=order,
        )

    def _on_host(self, name: str) -> torch.Tensor:
        """The buffer ``name`` on the host, copied once per tensor kept (on the CPU, itself).
        The copy is keyed by a weak reference, so a buffer replaced (``extended``,
        ``set_arrays``) is not kept alive by it."""
        tensor = getattr(self, name)
        copies = self.__dict__.setdefault("_host_copies", {})  # a module pickled before had none
        kept = copies.get(name)
        if kept is None or kept[0]() is not tensor:
            kept = copies[name] = (weakref.ref(tensor), tensor.cpu())
        return kept[1]

    def _entries(self, members: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Each entry's vector: its member's row plus each label times that label's row."""
        rows = embed(self.table, members).view(len(members), 1 + self.n_values, self.embedding_dim)
        if not self.n_values:
            return rows[:, 0]
        return (rows * _with_one(values).unsqueeze(2)).sum(1)

    def _gathered_sums(self, plan: PoolingPlan) -> torch.Tensor:
        """Each distinct owner's sum of entry vectors, from its own entries only."""
        vectors = self._entries(self.members[plan.entry], self.values[plan.entry])
        sums = vectors.new_zeros((len(plan.distinct), self.embedding_dim))
        return sums.index_add_(0, plan.owner, vectors)

    def _sampled_sums(self, plan: PoolingPlan) -> torch.Tensor:
        """Each owner's sum of entry vectors, estimated from the entries drawn (see
        ``_sampled_plan``): one sparse product."""
        rows = self.table.weight
        if plan.table_rows is not None:
            rows = nn.functional.embedding(plan.table_rows, rows, sparse=True)
        weights = (_with_one(self.values[plan.entry]) * plan.weight.unsqueeze(1)).reshape(-1)
        shape = (len(plan.distinct), plan.n_columns)
        with _csr_support():
            # valid by construction; duplicate columns add up
            matrix = torch.sparse_csr_tensor(
                plan.crow, plan.columns, weights, shape, check_invariants=False
            )
            transposed = torch.sparse_csr_tensor(
                plan.transposed_crow,
                plan.transposed_columns,
                weights.index_select(0, plan.transposed_order),
                shape[::-1],
                check_invariants=False,
            )
        return _SparseProduct.apply(rows.view(-1, self.embedding_dim), matrix, transposed)

    def _columns(self, members: torch.Tensor) -> torch.Tensor:
        """The columns of the weights matrices that entries of ``members`` fill, entry by
        entry: member m's rows of the table are columns m * (1 + n_values) + k."""
        width = 1 + self.n_values
        return (members[:, None] * width + torch.arange(width, device=members.device)).reshape(-1)

    def _all_sums(self) -> torch.Tensor:
        """Every owner's sum of entry vectors, as one sparse product of the histories and the
        table: an entry's vector is a weighted sum of its member's rows (weights 1 and its
        labels), so the sums are ``A @ rows`` with A holding those weights."""
        if self._matrix is None or self._matrix_of is not self.members:
            self._matrix, self._matrix_of = self._weights_matrices(), self.members
        rows = self.table.weight.view(-1, self.embedding_dim)
        return _SparseProduct.apply(rows, *self._matrix)

    def _weights_matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A, (owners, members x (1 + n_values)) in CSR, and its transpose in CSR: entry
        (o, m * (1 + v) + k) is 1 for k = 0 and the k-th label of o's entry m otherwise. A's
        rows are the kept CSR arrays themselves (owners in order, members sorted in each). The
        transpose's rows are A's entries sorted by column, stably (so owners in order within
        each), counted per column: every size is known beforehand, where a sparse tensor's
        ``coalesce`` would have the device report its number of entries."""
        width = 1 + self.n_values
        shape = (len(self.indptr) - 1, (self.n_members + 1) * width)
        columns, values = self._columns(self.members), _with_one(self.values).reshape(-1)
        owners = self.keys // (self.n_members + 1)  # keys are owner * (n_members + 1) + member
        order = torch.sort(columns, stable=True).indices
        per_column = torch.zeros(shape[1], dtype=torch.long, device=columns.device)
        per_column.index_add_(0, columns, torch.ones_like(columns))
        with _csr_support():
            matrix = torch.sparse_csr_tensor(
                self.indptr * width, columns, values, shape, check_invariants=False
            )
            transposed = torch.sparse_csr_tensor(
                torch.cat([per_column.new_zeros(1), per_column.cumsum(0)]),
                owners.repeat_interleave(width)[order],
                values[order],
                shape[::-1],
                check_invariants=False,  # valid by construction: CSR arrays of known codes
            )
        return matrix, transposed

    def forward(
        self,
        owners: torch.Tensor,
        leave_out: torch.Tensor | None = None,
        plan: PoolingPlan | None = None,
    ) -> torch.Tensor:
        """Pooled history per row of ``owners``; with ``leave_out`` (member codes), each row's
        own member is left out of its owner's history. ``plan``: ``self.plan(owners)`` on the
        device, made on the host before the batch went up; without it, made here from the
        codes read back."""
        if self.serves_pooled and leave_out is None:
            return self.pooled.index_select(0, owners)
        if owners.numel() == 0:
            return self.table.weight.new_zeros((0, self.embedding_dim))
        if plan is None:
            plan = self.plan(owners).to(lambda tensor: tensor.to(owners.device))
        # sparse products have no bfloat16 kernels: pooling stays in float32 under autocast
        with torch.autocast(owners.device.type, enabled=False):
            if plan.how == "sampled":
                sums = self._sampled_sums(plan)
            elif plan.how == "all":
                sums = self._all_sums().index_select(0, plan.distinct)
            else:
                sums = self._gathered_sums(plan)
        # index_select: its backward adds in a fixed order (indexing's may add atomically)
        pooled = sums.index_select(0, plan.row_owner)
        n = plan.lengths.index_select(0, plan.row_owner).float()
        if leave_out is not None and len(self.keys):
            keys = owners * (self.n_members + 1) + leave_out
            at = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
            own = (self.keys[at] == keys).float()
            pooled = pooled - own.unsqueeze(1) * self._entries(self.members[at], self.values[at])
            n = n - own
        return pooled * n.clamp(min=1).rsqrt().unsqueeze(1)


@contextmanager
def _csr_support() -> Iterator[None]:
    """Without torch's warning that its CSR support is in beta: the two products used here
    (CSR times dense, forward and backward) are tested against the gathered sums."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        yield


class _SparseProduct(torch.autograd.Function):
    """``matrix @ dense`` with its gradient through the transpose kept beside it: torch's own
    backward of a sparse product transposes and sorts the matrix at every step."""

    @staticmethod
    def forward(dense, matrix, transposed):
        return matrix @ dense

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.transposed = inputs[2]

    @staticmethod
    def backward(ctx, grad):
        return ctx.transposed @ grad, None, None


def _with_one(values: torch.Tensor) -> torch.Tensor:
    """An entry's weights on its member's rows: 1 on the first, then its labels."""
    return torch.cat([values.new_ones((len(values), 1)), values], dim=1)
