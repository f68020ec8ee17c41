"""The input part of the network: ids, side features and interaction features as one vector.

The user's vector is its id embedding plus a linear map of its user-side features; the item's
likewise with its item-side features. The head's input concatenates the two vectors, their
element-wise product (the factorization-machine interaction) and the embeddings and values of
the remaining (interaction) features: ``[user, item, user * item, shared]``. Row 0 of every
embedding table stands for a value not seen in fit. During training, ``id_dropout`` replaces
that share of ids by row 0, so the unseen-id row learns the population and the side features
learn to stand in for an id that says nothing. With histories (``History``), the user's vector
also adds the pooled items the user interacted with (and the item's its pooled users); a row
whose id is dropped loses its history too, as a user or item new to fit has none. A side with
more numeric features than ``content_components`` takes them through a fixed projection onto
their principal components (computed in fit), so that wide content (a text embedding) cannot
single out the training items.

``PairInput`` is the same input for every (user, item) pair of a block without building it: a
linear layer over it splits into a per-user, a per-item and a per-pair term, so ``recommend``
computes the user and item terms once. ``RowPairs`` does the same for rows that each pick a
user and an item among distinct ones (``predict``): each distinct user's and item's terms are
computed once, however many rows read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from itertools import groupby

import torch
from torch import nn

from ._history import History, PoolingPlan
from ._lookup import embed, gather_rows

ROLES = ("user", "item")
# PairInput's first layers take one product per user from this many items on: with many items
# it saves the pairwise user * item tensor, with few the loop over the block's users costs more
# than it saves.
_ITEMS_FOR_PRODUCTS_PER_USER = 1024
# A categorical column's embedding width is about SCALE * (categories + 1) ** POWER (fast.ai's
# rule of thumb), capped at ``embedding_dim``: it grows slowly with the categories.
_CATEGORICAL_WIDTH_SCALE = 1.6
_CATEGORICAL_WIDTH_POWER = 0.56


def categorical_embedding_dim(cardinality: int, embedding_dim: int) -> int:
    """A width that grows slowly with the number of categories, capped at ``embedding_dim``."""
    width = _CATEGORICAL_WIDTH_SCALE * (cardinality + 1) ** _CATEGORICAL_WIDTH_POWER
    return max(1, min(embedding_dim, round(width)))


class InputLayer(nn.Module):
    """Id and categorical embeddings, user and item vectors, and the interaction features.

    Parameters
    ----------
    n_users, n_items : int
        Ids seen in fit (0: no such id column). Tables have one more row, for unseen ids.
    cardinalities : sequence of int
        Categories seen in fit per categorical column.
    n_numeric : int
        Numeric columns.
    sides : dict
        ``{"user": {"numeric": [...], "categorical": [...]}, "item": {...}}``: the column
        indices that describe the user and the item; the others describe the interaction.
    embedding_dim : int
        Width of the id embeddings, and the cap of the categorical ones.
    id_dropout : float or dict
        Share of ids replaced by the unseen-id row while training: one for users and items,
        or ``{"user": share, "item": share}``.
    history_values : int or None
        With an int, the vector of each side in ``history_sides`` also pools its history
        (``History``: a user's items, an item's users), each entry with that many labels;
        None: no history.
    history_sides : sequence of {"user", "item"}
        The sides that pool a history.
    history : dict or None
        ``{side: CSR arrays}`` (``HistoryArrays.arrays()``) of each side in ``history_sides``.
    history_sample : int or None
        While training, the entries a long history may be pooled from (``History``'s
        ``sample``); None: always every entry.
    content_components : int or None
        A side with more numeric columns than this (a text embedding, say) takes them through a
        fixed projection onto that many components (``content_projections``); None: never.
    content_projections : dict or None
        ``{side: (n_columns, content_components) array}``, kept as the buffer
        ``<side>_projection``; zeros until given (a state dict fills them).
    """

    def __init__(
        self,
        *,
        n_users: int,
        n_items: int,
        cardinalities: Sequence[int],
        n_numeric: int,
        sides: dict,
        embedding_dim: int,
        id_dropout: float | dict = 0.0,
        history_values: int | None = None,
        history_sides: Sequence[str] = ("user",),
        history=None,
        history_sample: int | None = None,
        content_components: int | None = None,
        content_projections=None,
    ):
        super().__init__()
        self.id_dropout = (
            dict(id_dropout) if isinstance(id_dropout, dict) else dict.fromkeys(ROLES, id_dropout)
        )
        self.embedding_dim = embedding_dim
        self.histories = nn.ModuleDict()
        if history_values is not None and n_users and n_items:
            members = {"user": n_items, "item": n_users}
            for role in history_sides:
                arrays = None if history is None else history[role]
                self.histories[role] = History(
                    members[role], history_values, embedding_dim, arrays, history_sample
                )
        self.categorical_embeddings = nn.ModuleList(
            nn.Embedding(c + 1, categorical_embedding_dim(c, embedding_dim)) for c in cardinalities
        )
        widths = [e.embedding_dim for e in self.categorical_embeddings]
        self.sides = nn.ModuleDict()
        self.side_columns: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        for role, n_ids in (("user", n_users), ("item", n_items)):
            if not n_ids:
                continue
            numeric = tuple(sides.get(role, {}).get("numeric", ()))
            categorical = tuple(sides.get(role, {}).get("categorical", ()))
            side = nn.ModuleDict({"embedding": nn.Embedding(n_ids + 1, embedding_dim)})
            n_numeric_in = len(numeric)
            if content_components is not None and len(numeric) > content_components:
                given = (content_projections or {}).get(role)
                projection = (
                    torch.zeros(len(numeric), content_components)
                    if given is None
                    else torch.as_tensor(given, dtype=torch.float32)
                )
                self.register_buffer(f"{role}_projection", projection)
                n_numeric_in = content_components
            n_content = n_numeric_in + sum(widths[j] for j in categorical)
            if n_content:
                side["content"] = nn.Linear(n_content, embedding_dim)
            self.sides[role] = side
            self.side_columns[role] = (numeric, categorical)
        claimed_numeric = {j for numeric, _ in self.side_columns.values() for j in numeric}
        claimed_categorical = {j for _, cats in self.side_columns.values() for j in cats}
        self.shared_numeric = tuple(j for j in range(n_numeric) if j not in claimed_numeric)
        self.shared_categorical = tuple(
            j for j in range(len(cardinalities)) if j not in claimed_categorical
        )
        self.n_shared = sum(widths[j] for j in self.shared_categorical) + len(self.shared_numeric)
        self.n_out = embedding_dim * (len(self.sides) + (len(self.sides) == 2)) + self.n_shared
        if self.n_out == 0:
            raise ValueError("The network has no input: X has no id and no feature column.")

    @contextmanager
    def pooled_histories(self) -> Iterator[None]:
        """Every history pooled once for the context (see ``History.pooled_once``)."""
        with ExitStack() as stack:
            for history in self.histories.values():
                stack.enter_context(history.pooled_once())
            yield

    def growing_tables(self) -> list[tuple[nn.Embedding, float]]:
        """The embedding tables with a row per user or item (ids and histories), each with the
        most rows a training row reads from it: one id, ``history_sample`` history entries
        (inf where histories are read whole)."""
        ids = [(side["embedding"], 1.0) for side in self.sides.values()]
        return ids + [
            (history.table, math.inf if history.sample is None else float(history.sample))
            for history in self.histories.values()
        ]

    def reset_embeddings(self) -> None:
        """Scale the embedding tables to unit-norm rows on average. The network calls it once
        its head is built, so that a seed draws the head's weights as it always did."""
        tables = [side["embedding"] for side in self.sides.values()]
        for table in [*tables, *self.categorical_embeddings]:
            nn.init.normal_(table.weight, std=1.0 / math.sqrt(table.embedding_dim))
        for history in self.histories.values():
            history.reset_parameters()

    def _features(
        self, numeric, categorical, numeric_cols, categorical_cols, projection=None
    ) -> list:
        parts = []
        for run in self._equal_width_runs(categorical_cols):
            parts += self._embed_columns(categorical, run)
        if numeric_cols:
            values = numeric[:, list(numeric_cols)]
            parts.append(values if projection is None else values @ projection)
        return parts

    def _equal_width_runs(self, columns: Sequence[int]) -> list[list[int]]:
        """``columns`` cut where the width of their embeddings changes."""
        width = lambda j: self.categorical_embeddings[j].embedding_dim  # noqa: E731
        return [list(run) for _, run in groupby(columns, key=width)]

    def _embed_columns(self, categorical: torch.Tensor, columns: list[int]) -> list[torch.Tensor]:
        """The embeddings of ``columns`` (of one width), in order, for the caller to put side by
        side: one tensor per column, or one for them all.

        Training on the CPU, columns whose tables are small beside the batch are one lookup
        into their tables stacked, whose gradient (a sum per row in row order, split back per
        table) is the separate lookups' to the bit, and cheaper than one lookup per table for
        many small columns (genre flags, say). Stacking copies the tables, so large ones,
        serving and other devices (where the offsets would be a copy from the host) look each
        column up alone.
        """
        tables = [self.categorical_embeddings[j].weight for j in columns]
        stack = (
            len(columns) > 1
            and self.training
            and torch.is_grad_enabled()
            and categorical.device.type == "cpu"
            and sum(len(t) for t in tables) <= len(categorical)
        )
        if not stack:
            return [gather_rows(t, categorical[:, j]) for t, j in zip(tables, columns, strict=True)]
        offsets = torch.tensor([0, *(len(t) for t in tables[:-1])]).cumsum(0)
        codes = categorical[:, columns] + offsets
        return [gather_rows(torch.cat(tables), codes).flatten(1)]

    def side_vector(
        self,
        role: str,
        codes,
        numeric,
        categorical,
        leave_out=None,
        history_user=None,
        hide=None,
        plan: PoolingPlan | None = None,
    ) -> torch.Tensor:
        """The user's or item's vector: its id embedding plus its mapped side features, and its
        pooled history (without the members ``leave_out``, one per row, if given), read under
        the codes ``history_user`` where given (a user's history passed at predict time, or
        another owner's whose history an explanation swaps in). Rows where the boolean ``hide``
        is set lose their id and history, as an id new to fit (``ColdItemCopies``). ``plan``:
        the history's pooling plan for these rows (``history_plans``)."""
        side = self.sides[role]
        history = None
        if role in self.histories:
            owners = codes if history_user is None else history_user
            # under the codes as given; id dropout below replaces them
            history = self.histories[role](owners, leave_out, plan)
        rate = self.id_dropout[role]
        keep = None if hide is None else ~hide
        if self.training and rate > 0:
            dropped = torch.rand(codes.shape, device=codes.device) < rate
            keep = ~dropped if keep is None else keep & ~dropped
        if keep is not None:
            codes = codes * keep
            if history is not None:
                # an id-less row loses its history too: a user or item new to fit has none
                # and is placed by its content alone, as training must then place it
                history = history * keep.unsqueeze(1)
        vector = embed(side["embedding"], codes)
        if "content" in side:
            projection = getattr(self, f"{role}_projection", None)
            parts = self._features(numeric, categorical, *self.side_columns[role], projection)
            vector = vector + side["content"](torch.cat(parts, dim=1))
        return vector if history is None else vector + history

    def shared_input(self, numeric, categorical) -> torch.Tensor:
        """The interaction features (of neither side) as the head sees them."""
        parts = self._features(numeric, categorical, self.shared_numeric, self.shared_categorical)
        return torch.cat(parts, dim=1) if parts else numeric[:, :0]

    def side_vectors(
        self,
        numeric,
        categorical,
        user=None,
        item=None,
        history_user=None,
        history_item=None,
        cold_item=None,
        plans: dict[str, PoolingPlan] | None = None,
    ) -> dict[str, torch.Tensor]:
        """{role: vector} of each row's user and item (the sides the input has); histories
        read under ``history_user`` (``history_item``) where given, pooled by ``plans``
        (``history_plans``) where given; the items of the rows flagged by ``cold_item`` seen as
        new to fit."""
        ids = {"user": user, "item": item}
        # the user's history leaves the row's own item out, even where the item is hidden
        leave_out = {"user": item, "item": user} if self.training else {}
        owners = {"user": history_user, "item": history_item}
        hidden = {"item": cold_item}
        plans = plans or {}
        return {
            role: self.side_vector(
                role,
                ids[role],
                numeric,
                categorical,
                leave_out.get(role),
                owners.get(role),
                hidden.get(role),
                plans.get(role),
            )
            for role in self.sides
        }

    def history_plans(self, batch: dict) -> dict[str, PoolingPlan]:
        """Each history's pooling plan (``History.plan``) for a batch of host arrays keyed as
        ``forward``'s arguments, made before the batch goes up to the device; none for a
        history that the table pooled once serves."""
        plans = {}
        for role, history in self.histories.items():
            owners = batch.get(f"history_{role}")
            owners = batch.get(role) if owners is None else owners
            if owners is not None and len(owners) and not history.serves_pooled:
                plans[role] = history.plan(torch.as_tensor(owners))
        return plans

    def assemble(self, vectors: dict[str, torch.Tensor], numeric, categorical) -> torch.Tensor:
        """The head's input from the side vectors and the interaction features."""
        parts = list(vectors.values())
        if len(parts) == 2:
            parts.append(parts[0] * parts[1])
        return torch.cat([*parts, self.shared_input(numeric, categorical)], dim=1)

    def forward(
        self, numeric, categorical, user=None, item=None, history_user=None, history_item=None
    ):
        vectors = self.side_vectors(numeric, categorical, user, item, history_user, history_item)
        return self.assemble(vectors, numeric, categorical)

    def pairs(
        self, users: torch.Tensor, items: torch.Tensor, shared: torch.Tensor, item_terms=None
    ) -> PairInput:
        """The input of every (user, item) pair, with one row of interaction features; see
        ``PairInput`` for ``item_terms``."""
        if len(self.sides) != 2:
            raise ValueError("Scoring pairs needs both user and item ids.")
        return PairInput(users, items, shared, item_terms)

    def row_pairs(self, users, items, user_rows, item_rows, shared, terms=None) -> RowPairs:
        """The input of rows that pick their user and item among distinct ones; see
        ``RowPairs``."""
        if len(self.sides) != 2:
            raise ValueError("Scoring rows by their users and items needs both ids.")
        return RowPairs(users, items, user_rows, item_rows, shared, terms)


class PairInput:
    """The head's input ``[user, item, user * item, shared]`` for every pair of a block.

    ``users`` (n_users, d), ``items`` (n_items, d) and ``shared`` (1, s), a row of interaction
    features common to every pair. Rows are ordered user-major: pair (u, i) is row
    ``u * n_items + i``, as in ``torch.cartesian_prod``. ``item_terms``, a dict, keeps what
    depends on the items alone (each first layer's item-side term or, for large catalogs, its
    item weights with the fixed term; the items with a column of ones) across the blocks of
    users scored against the same items (given the same dict, each block computes them no
    more).
    """

    def __init__(
        self, users: torch.Tensor, items: torch.Tensor, shared: torch.Tensor, item_terms=None
    ):
        self.users, self.items, self.shared = users, items, shared
        self.item_terms = {} if item_terms is None else item_terms
        self._product = None  # small catalogs: user * item of every pair, for every layer

    def __len__(self) -> int:
        return len(self.users) * len(self.items)

    def linear(self, layer: nn.Linear) -> torch.Tensor:
        """``layer`` applied to every pair's input, without concatenating it."""
        d = self.users.shape[1]
        w = layer.weight
        user_term = self.users @ w[:, :d].T
        product = w[:, 2 * d : 3 * d]
        if len(self.items) < _ITEMS_FOR_PRODUCTS_PER_USER:
            item_term = self.item_terms.get(layer)
            if item_term is None:
                item_term = self.items @ w[:, d : 2 * d].T + self._fixed_term(layer)
                self.item_terms[layer] = item_term
            if self._product is None:
                self._product = self.users[:, None, :] * self.items[None, :, :]
            out = self._product @ product.T
            out += user_term[:, None, :] + item_term[None, :, :]
            return out.reshape(len(self), -1)
        # user u's rows in one product, [items, 1] @ [(w_product * u + w_item).T; user term +
        # fixed term]: the item term inside it too, so no pairwise user * item tensor, no
        # broadcast sum and no item term to copy into each user's rows. The block's users are
        # one batched product, written in place of the rows (a loop of products and their
        # concatenation gives the same numbers, more slowly)
        items = self.item_terms.get("items_and_one")
        if items is None:
            items = torch.cat([self.items, self.items.new_ones(len(self.items), 1)], dim=1)
            self.item_terms["items_and_one"] = items
        weights = self.item_terms.get((layer, "weights"))
        if weights is None:
            weights = torch.cat([w[:, d : 2 * d].T, self._fixed_term(layer)])
            self.item_terms[(layer, "weights")] = weights
        per_user = torch.cat([product.T * self.users[:, :, None], user_term[:, None, :]], dim=1)
        return torch.matmul(items, per_user + weights).reshape(len(self), -1)

    def _fixed_term(self, layer: nn.Linear) -> torch.Tensor:
        """What every pair adds alike: the shared features' term and the bias, (1, n_out)."""
        term = self.shared @ layer.weight[:, 3 * self.users.shape[1] :].T
        return term if layer.bias is None else term + layer.bias

    def dense(self) -> torch.Tensor:
        """The concatenated input, (n_users * n_items, 3d + s): for heads with no layer."""
        n_u, n_i = len(self.users), len(self.items)
        users = self.users.repeat_interleave(n_i, dim=0)
        items = self.items.repeat(n_u, 1)
        shared = self.shared.expand(n_u * n_i, -1)
        return torch.cat([users, items, users * items, shared], dim=1)


class RowPairs:
    """The head's input ``[user, item, user * item, shared]`` of rows that pick their user and
    item among distinct ones.

    ``users`` (n_users, d) and ``items`` (n_items, d) are distinct vectors; row r reads
    ``users[user_rows[r]]`` and ``items[item_rows[r]]``, with its own interaction features
    ``shared[r]`` (batch, s). A linear layer over it is the row's pick of the users' term and of
    the items' term plus its product term: the user and item terms are computed once per
    distinct vector and kept in ``terms`` (a dict), which the batches of rows picking among the
    same vectors may share.
    """

    def __init__(
        self,
        users: torch.Tensor,
        items: torch.Tensor,
        user_rows: torch.Tensor,
        item_rows: torch.Tensor,
        shared: torch.Tensor,
        terms=None,
    ):
        self.users, self.items, self.shared = users, items, shared
        self.user_rows, self.item_rows = user_rows, item_rows
        self.terms = {} if terms is None else terms
        self._picked = None  # (user, item, user * item) vectors of the rows, for every layer
        self._both = None

    def __len__(self) -> int:
        return len(self.user_rows)

    def picked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows' user and item vectors and their product."""
        if self._picked is None:
            # index_select, not indexing: faster for rows of a matrix on the CPU
            users = self.users.index_select(0, self.user_rows)
            items = self.items.index_select(0, self.item_rows)
            self._picked = (users, items, users * items)
        return self._picked

    def linear(self, layer: nn.Linear) -> torch.Tensor:
        """``layer`` applied to every row's input, without concatenating it."""
        d = self.users.shape[1]
        w = layer.weight
        terms = self.terms.get(layer)
        if terms is None:
            item_term = self.items @ w[:, d : 2 * d].T
            if layer.bias is not None:
                item_term = item_term + layer.bias
            # the users' terms, then the items': a row's pick of both is one bag of two rows
            terms = self.terms[layer] = torch.cat([self.users @ w[:, :d].T, item_term])
        # its user's term plus its item's in one pass (two gathers and a sum take three)
        out = nn.functional.embedding_bag(self._both_rows(), terms, mode="sum")
        out.addmm_(self.picked()[2], w[:, 2 * d : 3 * d].T)
        if self.shared.shape[1]:
            out.addmm_(self.shared, w[:, 3 * d :].T)
        return out

    def _both_rows(self) -> torch.Tensor:
        """Each row's user and item, as rows of the terms' table: (batch, 2)."""
        if self._both is None:
            self._both = torch.stack([self.user_rows, self.item_rows + len(self.users)], dim=1)
        return self._both

    def dense(self) -> torch.Tensor:
        """The concatenated input, (batch, 3d + s): for heads with no layer."""
        return torch.cat([*self.picked(), self.shared], dim=1)


# The head's input without its concatenation: a linear layer over it splits into terms
FactoredInput = PairInput | RowPairs


def apply_linear(layer: nn.Linear, x: torch.Tensor | FactoredInput) -> torch.Tensor:
    """``layer(x)`` for a tensor, the factored fast path for a ``PairInput`` or ``RowPairs``."""
    return layer(x) if isinstance(x, torch.Tensor) else x.linear(layer)


def as_tensor(x: torch.Tensor | FactoredInput) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else x.dense()
