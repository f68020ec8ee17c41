"""The multi-task network, built from a JSON-serializable spec: input part, head, balancing."""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ._balancing import BALANCING
from ._dot import DotScorer
from ._heads import HEADS
from ._inputs import InputLayer


class MultiTaskNetwork(nn.Module):
    """An input part and a head with one output per task, as the spec describes them.

    Parameters
    ----------
    spec : dict
        ``{"tasks": [{"name", "kind", "n_outputs"}, ...], "inputs": {...InputLayer
        arguments}, "head": {"architecture": name, ...head arguments}, "balancing":
        {"method": name, "task_weights": [...]}}``, as in ``MultiTaskRecommender.network_spec_``.
        Everything the module's shape depends on is in it, so the same network can be rebuilt
        from the spec and a state dict, without pickle.
    history : dict or None
        ``{side: CSR arrays}``: the users' (items') histories, when the spec's
        ``inputs.history_values`` asks for them; state, not shape (so not in the spec), and
        replaced by ``set_history``.
    item_table : dict or None
        The catalog that a task scored by a dot product (``"scorer": "dot"`` in its spec)
        trains its softmax against; see ``set_item_table``. Needed only for training.
    content_projections : dict or None
        ``{side: (n_columns, k) array}``: the projection of a side's numeric features wider
        than the spec's ``inputs.content_components``; state, like ``history``.
    sparse_above : int or None, default=None
        The rows of a training batch. The tables that grow with the users and items (ids,
        histories) and have more rows than a batch can read from them (an id per row,
        ``history_sample`` history entries per row) give sparse gradients, holding only the
        rows the batch read, for an optimizer that updates those rows alone
        (``RowwiseAdamW``). A table a batch reads more often than it has rows is cheaper to
        update whole, and categorical features' tables stay dense. None: every table dense.
        A training choice, not part of the spec.

    Notes
    -----
    ``forward`` returns a tuple with one tensor per task: shape (batch,) for a one-output task
    (a scaled value or a logit), (batch, n_outputs) logits otherwise. A task whose spec says
    ``"scorer": "dot"`` skips the head: a ``DotScorer`` scores it from the user and item vectors
    (inside ``training_loss_form``, as softmax logits over the catalog).
    """

    def __init__(
        self,
        spec: dict,
        history=None,
        item_table=None,
        content_projections=None,
        sparse_above: int | None = None,
    ):
        super().__init__()
        tasks = spec["tasks"]
        inputs = dict(spec["inputs"])
        # specs before 0.1 name the removed item feature shrinkage, always off since
        if inputs.pop("item_feature_shrinkage", None) is not None:
            raise ValueError("spec.inputs.item_feature_shrinkage was removed from skmtrec")
        self.inputs = InputLayer(
            **inputs,
            history=history,
            content_projections=content_projections,
        )
        # tasks scored by a dot product (a catalog-wide softmax) skip the head
        self.dot_positions = [j for j, t in enumerate(tasks) if t.get("scorer") == "dot"]
        self.head_positions = [j for j in range(len(tasks)) if j not in self.dot_positions]
        self.softmax_items = [tasks[j]["softmax_items"] for j in self.dot_positions]
        head = dict(spec["head"])
        architecture = head.pop("architecture")
        task_outputs = tuple(tasks[j]["n_outputs"] for j in self.head_positions)
        self.head = (
            HEADS[architecture](self.inputs.n_out, task_outputs, **head) if task_outputs else None
        )
        self.dot = nn.ModuleList(
            DotScorer(
                spec["inputs"]["embedding_dim"],
                tasks[j].get("similarity", "dot"),
                tasks[j].get("temperature", 1.0),
            )
            for j in self.dot_positions
        )
        self.inputs.reset_embeddings()
        for table, reads_per_row in self.inputs.growing_tables():
            reads = math.inf if sparse_above is None else sparse_above * reads_per_row
            table.sparse = table.num_embeddings > reads
        balancing = dict(spec["balancing"])
        self.balancing = BALANCING[balancing.pop("method")](**balancing)
        self.loss_form = False
        for name in ("catalog_numeric", "catalog_categorical", "log_popularity"):
            self.register_buffer(name, None, persistent=False)
        if item_table is not None:
            self.set_item_table(item_table)

    def set_item_table(self, table: dict) -> None:
        """The catalog a softmax scores against: every item code's encoded features
        (``numeric``, ``categorical``, full width) and its interactions in fit (``counts``)."""
        self.catalog_numeric = torch.as_tensor(table["numeric"], dtype=torch.float32)
        self.catalog_categorical = torch.as_tensor(table["categorical"], dtype=torch.long)
        counts = np.maximum(np.asarray(table["counts"], dtype=np.float64)[1:], 1.0)
        log_q = np.concatenate([[-np.inf], np.log(counts / counts.sum())])  # 0: never drawn
        self.log_popularity = torch.as_tensor(log_q, dtype=torch.float32)
        self._host_log_popularity = torch.as_tensor(log_q, dtype=torch.float32)  # stays on the CPU

    @contextmanager
    def training_loss_form(self):
        """Within, a dot-scored task outputs its softmax logits over the catalog (column 0:
        the row's own item), which its loss needs; outside, one score per row."""
        self.loss_form = True
        try:
            yield
        finally:
            self.loss_form = False

    def forward(
        self,
        numeric,
        categorical,
        user=None,
        item=None,
        history_user=None,
        history_item=None,
        cold_item=None,
        history_plans=None,
    ) -> tuple[torch.Tensor, ...]:
        vectors = self.inputs.side_vectors(
            numeric, categorical, user, item, history_user, history_item, cold_item, history_plans
        )
        x = self.inputs.assemble(vectors, numeric, categorical)
        plans = history_plans or {}
        dot = [
            self._logits(scorer, limit, vectors, item, plans.get(f"catalog_{j}"))
            if self.loss_form
            else scorer(vectors["user"], vectors["item"])
            for j, (scorer, limit) in enumerate(zip(self.dot, self.softmax_items, strict=True))
        ]
        return self._in_task_order(self.head(x) if self.head is not None else (), dot)

    def _in_task_order(self, head_outputs, dot_outputs) -> tuple[torch.Tensor, ...]:
        outputs = dict(zip(self.head_positions, head_outputs, strict=True))
        outputs.update(zip(self.dot_positions, dot_outputs, strict=True))
        return tuple(outputs[j] for j in range(len(outputs)))

    def _logits(self, scorer: DotScorer, limit: int, vectors, item, plan=None) -> torch.Tensor:
        """A dot-scored task's softmax logits against its catalog (``_catalog_codes``), or
        against the codes of ``plan``, their histories' pooling plan, drawn on the host
        (``plan_histories``)."""
        if plan is None:
            codes = self._catalog_codes(limit, on_host=False)
        else:
            codes = plan.distinct.index_select(0, plan.row_owner)
        sampled = log_q = None
        if len(self.catalog_numeric) - 1 > limit:
            sampled, log_q = codes, self.log_popularity + float(np.log(limit))
        catalog = self.inputs.side_vector(
            "item", codes, self.catalog_numeric[codes], self.catalog_categorical[codes], plan=plan
        )
        return scorer.logits(vectors["user"], vectors["item"], item, catalog, log_q, sampled)

    def _catalog_codes(self, limit: int, on_host: bool) -> torch.Tensor:
        """Every item code while the catalog has at most ``limit`` items, else ``limit`` codes
        drawn by popularity (logQ-corrected in ``_logits``); on the host or the module's
        device."""
        n_codes = len(self.catalog_numeric)
        device = torch.device("cpu") if on_host else self.catalog_numeric.device
        if n_codes - 1 <= limit:
            return torch.arange(n_codes, device=device)
        # the same draw for every validation batch, so that its loss compares over epochs
        generator = None if self.training else torch.Generator(device=device).manual_seed(0)
        log_popularity = self.log_popularity
        if on_host:  # a module pickled before the host copy existed makes it here
            log_popularity = self.__dict__.get("_host_log_popularity")
            if log_popularity is None:
                log_popularity = self._host_log_popularity = self.log_popularity.cpu()
        return torch.multinomial(log_popularity.exp(), limit, replacement=True, generator=generator)

    def plan_histories(self, batch: dict) -> dict:
        """The histories' pooling plans for a batch of host arrays keyed as ``forward``'s
        arguments, for ``forward``'s ``history_plans`` once uploaded: see
        ``InputLayer.history_plans``. Inside ``training_loss_form``, with items' histories,
        also each dot-scored task's catalog (``catalog_<j>``), drawn here so that its
        histories are planned too."""
        plans = self.inputs.history_plans(batch)
        if self.loss_form and "item" in self.inputs.histories:
            history = self.inputs.histories["item"]
            for j, limit in enumerate(self.softmax_items):
                plans[f"catalog_{j}"] = history.plan(self._catalog_codes(limit, on_host=True))
        return plans

    def set_history(self, histories: dict) -> None:
        """Replace the histories: ``{side: CSR arrays of HistoryArrays.arrays()}``."""
        for role, arrays in histories.items():
            self.inputs.histories[role].set_arrays(arrays)

    def history_arrays(self) -> dict:
        """The histories kept: ``{side: CSR arrays}``, as ``set_history`` takes them."""
        return {role: history.arrays() for role, history in self.inputs.histories.items()}

    def pooled_histories(self):
        """A context in which every history is pooled once, outside training: for predict
        calls over many batches and for export (see ``History.pooled_once``)."""
        return self.inputs.pooled_histories()

    def extended_history(self, extra):
        """A context that serves users' histories given at predict time: see
        ``History.extended``."""
        return self.inputs.histories["user"].extended(extra)

    def side_vector(
        self, role: str, codes, numeric, categorical, history_user=None, leave_out=None
    ):
        """The user's or item's vector for encoded rows (its history read under the codes
        ``history_user`` where given, without the members ``leave_out``, one per row)."""
        return self.inputs.side_vector(role, codes, numeric, categorical, leave_out, history_user)

    @property
    def has_both_sides(self) -> bool:
        """Whether the network has a user and an item vector (then rows can be scored from
        their distinct users' and items' vectors)."""
        return len(self.inputs.sides) == 2

    def side_columns(self, role: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The (numeric, categorical) input columns folded into the user's or item's vector."""
        return self.inputs.side_columns[role]

    def shared_input(self, numeric, categorical):
        """The head's input part of the interaction features (those of neither side)."""
        return self.inputs.shared_input(numeric, categorical)

    def first_layers_width(self) -> int:
        """The outputs of the head's layers that read its input, together: what the factored
        inputs (``RowPairs``, ``PairInput``) keep per distinct user or item."""
        if self.head is None:
            return 0
        return sum(
            m.out_features
            for m in self.head.modules()
            if isinstance(m, nn.Linear) and m.in_features == self.inputs.n_out
        )

    def score_rows(
        self, users, items, user_rows, item_rows, shared, terms=None
    ) -> tuple[torch.Tensor, ...]:
        """Task outputs of rows that pick their user vector among ``users`` (``user_rows``) and
        their item vector among ``items`` (``item_rows``), with their own interaction features
        ``shared`` (``InputLayer.shared_input``): what ``forward`` gives for those rows. Batches
        picking among the same vectors may share one ``terms`` dict, which keeps each distinct
        vector's part of the head's first layers (see ``RowPairs``)."""
        rows = self.inputs.row_pairs(users, items, user_rows, item_rows, shared, terms)
        head_outputs = () if self.head is None else self.head(rows)
        dot = [scorer(*rows.picked()[:2]) for scorer in self.dot]
        return self._in_task_order(head_outputs, dot)

    def score_pairs(
        self, users, items, shared, item_terms=None, tasks=None
    ) -> tuple[torch.Tensor | None, ...]:
        """Task outputs of every (user vector, item vector) pair with the interaction features
        ``shared`` (one row), user-major: pair (u, i) is row ``u * len(items) + i``. Blocks of
        users scored against the same items may share one ``item_terms`` dict, which keeps
        the items' part of the head's first layers (see ``PairInput``). With ``tasks`` (task
        positions), only those tasks' outputs are computed; the others are None."""

        def wanted(position: int) -> bool:
            return tasks is None or position in tasks

        head_outputs = ()
        if self.head is not None:
            chosen = [j for j, p in enumerate(self.head_positions) if wanted(p)]
            head_outputs = (None,) * len(self.head_positions)
            if chosen:
                pairs = self.inputs.pairs(users, items, shared, item_terms)
                head_outputs = self.head.score_pairs(pairs, chosen)
        dot = [
            scorer.pairs(users, items) if wanted(p) else None
            for scorer, p in zip(self.dot, self.dot_positions, strict=True)
        ]
        return self._in_task_order(head_outputs, dot)
