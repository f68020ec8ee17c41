"""The histories kept from fit: each user's items and each item's users, with the labels of
the tasks a history keeps."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..nn._history import HistoryArrays
from .targets import first_columns


def fit_histories(params: Mapping, tasks, inputs: dict, y_encoded: np.ndarray, encoder) -> dict:
    """{side: HistoryArrays} of the sides that keep one (``user_history``, ``item_history``),
    with the labels of the tasks a history keeps, standardized (0 where missing)."""
    if not (params["user_history"] or params["item_history"]):
        return {}
    kept = [c for c, task in zip(first_columns(tasks), tasks, strict=True) if task.in_history]
    values = y_encoded[:, kept].astype(np.float64)
    with np.errstate(invalid="ignore"):
        mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    values = np.nan_to_num((values - mean) / np.where(std > 0, std, 1.0), nan=0.0)
    users = HistoryArrays(inputs["user"], inputs["item"], values, encoder.n_users, encoder.n_items)
    histories = {"user": users, "item": users.transposed()}
    wanted = {"user": params["user_history"], "item": params["item_history"]}
    return {role: h for role, h in histories.items() if wanted[role]}
