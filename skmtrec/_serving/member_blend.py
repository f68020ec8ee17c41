"""A ranking blend of tasks that per-task stopping kept in different networks, scored as one.

With ``stop_per_task``, each task is served by the network of its own best epoch (see
``FittedModel.members``). A blend of tasks of several networks ranks by each task's score from
its own network: a user's or an item's vector here is the networks' vectors side by side (all
have one spec, so each takes an equal share of the columns), and each network scores its tasks
from its own share. No one network's dot product retrieves such a blend, so every pair goes
through the heads (``dot_positions`` is empty).
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch


class MemberBlend:
    """The networks of ``members`` that serve the task positions ``positions``, with the
    scoring interface ``recommend`` reads of one network (``side_vector``, ``shared_input``,
    ``score_pairs``, ``score_rows`` and the histories).

    Parameters
    ----------
    members : list of MultiTaskNetwork
        Every network of the model.
    task_member : list of int
        Each task's network, an index into ``members``.
    positions : iterable of int
        The tasks of the blend.
    """

    dot_positions = ()

    def __init__(self, members: list, task_member: list[int], positions):
        chosen = sorted({task_member[j] for j in positions})
        self.networks = [members[m] for m in chosen]
        self.tasks = [[j for j, m in enumerate(task_member) if m == c] for c in chosen]
        self.n_tasks = len(task_member)

    @property
    def has_both_sides(self) -> bool:
        return self.networks[0].has_both_sides

    def eval(self) -> MemberBlend:
        for network in self.networks:
            network.eval()
        return self

    def _parts(self, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tensor.tensor_split(len(self.networks), dim=-1)  # each an equal share

    def side_vector(self, *args, **kwargs) -> torch.Tensor:
        return torch.cat([n.side_vector(*args, **kwargs) for n in self.networks], dim=-1)

    def shared_input(self, numeric, categorical) -> torch.Tensor:
        return torch.cat([n.shared_input(numeric, categorical) for n in self.networks], dim=-1)

    def score_pairs(self, users, items, shared, item_terms=None, tasks=None) -> tuple:
        outputs = [None] * self.n_tasks
        parts = zip(self._parts(users), self._parts(items), self._parts(shared), strict=True)
        for i, (network, mine, part) in enumerate(
            zip(self.networks, self.tasks, parts, strict=True)
        ):
            wanted = [j for j in mine if tasks is None or j in tasks]
            if not wanted:
                continue
            terms = None if item_terms is None else item_terms.setdefault(i, {})
            scored = network.score_pairs(*part, terms, tasks=wanted)
            for j in wanted:
                outputs[j] = scored[j]
        return tuple(outputs)

    def score_rows(self, users, items, user_rows, item_rows, shared, terms=None) -> tuple:
        outputs = [None] * self.n_tasks
        parts = zip(self._parts(users), self._parts(items), self._parts(shared), strict=True)
        for i, (network, mine, (u, v, s)) in enumerate(
            zip(self.networks, self.tasks, parts, strict=True)
        ):
            own_terms = None if terms is None else terms.setdefault(i, {})
            scored = network.score_rows(u, v, user_rows, item_rows, s, own_terms)
            for j in mine:
                outputs[j] = scored[j]
        return tuple(outputs)

    def history_arrays(self) -> dict:
        return self.networks[0].history_arrays()

    @contextmanager
    def pooled_histories(self):
        with ExitStack() as stack:
            for network in self.networks:
                stack.enter_context(network.pooled_histories())
            yield

    @contextmanager
    def extended_history(self, extra):
        with ExitStack() as stack:
            firsts = [stack.enter_context(n.extended_history(extra)) for n in self.networks]
            yield firsts[0]
