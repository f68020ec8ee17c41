"""The prediction for an item new to fit: the network's output moved toward a closed-form
content model's (``ColdItemRidge``) by a weight fixed at fit.

Every way a fitted model predicts goes through this one blend: ``predict`` and
``predict_proba`` (rows), ``recommend`` (pairs of users and candidate items), ``explain``
(whose ablated item id makes the item new) and the ONNX graph (``RidgeGraph``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
import torch
from torch import nn

from .._training.cold_item_ridge import ColdItemRidge, ItemContent


class ColdItemBlend:
    """Regression tasks' ridges and the weight of their blend into new items' predictions.

    Parameters
    ----------
    ridges : dict of {str: ColdItemRidge}
        A fitted ridge per regression task (empty: no blend).
    weight : float
        The share of the ridge in a new item's prediction, in [0, 1].
    """

    def __init__(self, ridges: dict[str, ColdItemRidge], weight: float):
        self.ridges = ridges
        self.weight = float(weight)

    def __bool__(self) -> bool:
        return bool(self.ridges) and self.weight > 0

    @classmethod
    def fit(
        cls, weight: float, tasks, targets, inputs: dict, sides: dict, encoder, seed: int
    ) -> ColdItemBlend:
        """Fit a ridge per regression task where ``weight > 0`` and there are users, items and
        item features the ridge can use."""
        item_side = sides.get("item", {})
        numeric, categorical = item_side.get("numeric", []), item_side.get("categorical", [])
        if not (weight > 0 and "user" in inputs and "item" in inputs):
            return cls({}, weight)
        levels = [encoder.cardinalities[c] for c in categorical]
        # each ridge fits its own content: the taste directions depend on the task's values
        content = partial(ItemContent, numeric, categorical, levels)
        if content().width == 1:
            return cls({}, weight)  # no item feature it can use: a new item is the mean's
        ridges = {
            task.name: ColdItemRidge(content(), encoder.n_users).fit(
                inputs, task.encode(targets[task.name])[:, 0].astype(np.float64), seed
            )
            for task in tasks
            if task.kind == "regression"
        }
        return cls(ridges, weight)

    def rows(self, outputs: dict[str, np.ndarray], coded: dict) -> dict[str, np.ndarray]:
        """The tasks' raw ``outputs`` for the ``coded`` rows, blended where the item is new."""
        new = coded["item"] == 0 if self else None
        if new is None or not new.any():
            return outputs
        rows = {key: values[new] for key, values in coded.items()}
        outputs = dict(outputs)
        for name, ridge in self.ridges.items():
            blended = outputs[name].reshape(-1).astype(np.float64)
            blended[new] += self.weight * (ridge.predict(rows) - blended[new])
            outputs[name] = blended
        return outputs

    def pairs(self, tasks, user_codes: np.ndarray, items: dict) -> Callable | None:
        """What blends the raw outputs of a block of (user, candidate item) pairs, user-major,
        given the block's slice of ``user_codes``; None where no candidate is new."""
        new = np.flatnonzero(items["item"] == 0) if self else np.empty(0, int)
        if not len(new):
            return None
        rows = {key: items[key][new] for key in ("numeric", "categorical")}
        blended = {
            j: (self.ridges[task.name], self.ridges[task.name].content.transform(rows))
            for j, task in enumerate(tasks)
            if task.name in self.ridges
        }

        def blend(outputs: list[torch.Tensor], users: slice) -> list[torch.Tensor]:
            codes = user_codes[users]
            outputs = list(outputs)
            for j, (ridge, design) in blended.items():
                if outputs[j] is None:  # a task the ranking does not read
                    continue
                scores = outputs[j].reshape(len(codes), -1).clone()
                cold = torch.as_tensor(ridge.predict_pairs(codes, design), dtype=scores.dtype)
                cold = cold.to(scores.device)
                part = scores[:, new]
                scores[:, new] = part + self.weight * (cold - part)
                outputs[j] = scores.reshape(outputs[j].shape)
            return outputs

        return blend

    def state(self) -> dict:
        return {name: ridge.state() for name, ridge in self.ridges.items()}

    @classmethod
    def from_state(cls, state: Mapping, weight: float) -> ColdItemBlend:
        """The blend of ``state()`` (ridges checked: they may come from a file)."""
        if not isinstance(state, Mapping):
            raise ValueError("fitted.cold_ridges must be a mapping")
        return cls(
            {
                name: ColdItemRidge.from_state(ridge, f"cold_ridges[{name!r}]")
                for name, ridge in state.items()
            },
            weight,
        )


class RidgeGraph(nn.Module):
    """A ridge's prediction for coded rows, in torch, for the ONNX graph."""

    def __init__(self, ridge: ColdItemRidge):
        super().__init__()
        content = ridge.content
        self.levels = [int(n) for n in content.levels]

        def buffer(name, values, dtype=torch.float32):
            self.register_buffer(name, torch.as_tensor(np.asarray(values), dtype=dtype))

        buffer("numeric", content.numeric, torch.long)
        buffer("categorical", content.categorical, torch.long)
        projection = content.projection
        self.projected = projection is not None
        buffer("projection", projection if self.projected else np.zeros((0, 0)))
        buffer("mean", ridge.mean)
        buffer("user_offset", ridge.user_offset)
        buffer("item_weights", ridge.item_weights)
        buffer("user_weights", ridge.user_weights)

    def forward(self, numeric, categorical, user):
        values = numeric.index_select(1, self.numeric)
        if self.projected:
            values = values @ self.projection
        parts = [values]
        for j, n in enumerate(self.levels):
            codes = categorical[:, self.categorical[j]].unsqueeze(1)
            levels = torch.arange(1, n + 1, device=codes.device)
            parts.append((codes == levels).to(values.dtype))
        # the constant: its own column, as values may have none (an item side with no numeric
        # column, such as MovieLens's genre flags)
        parts.append(values.new_ones(values.shape[0], 1))
        design = torch.cat(parts, dim=1)
        return (
            self.mean
            + self.user_offset[user]
            + design @ self.item_weights
            + (design * self.user_weights[user]).sum(dim=1)
        )
