"""Training rows seen a second time as rows of an item new to fit (its id and history hidden).

Id dropout replaces a row's item id by the unseen-id row, so the item's features learn to
stand in for it; but every dropped row is a row the id embedding does not learn from, and
dropping enough to teach the features costs the items seen in fit.
Copies add instead of replace (the counterfactual cold-start form of Du et al., "Learning to
Rank with Cold-Start Items", SIGIR 2020, MTPR): each copy keeps its labels and its item's
features, and is flagged ``cold_item`` so that the network hides the item's id and history
for that row only. The original row still trains the id embedding.
"""

from __future__ import annotations

import torch


class ColdItemCopies:
    """Appends ``share`` of a training batch's rows again, flagged as rows of a new item.

    A copy keeps its user, features and labels, except for the tasks implied by rows
    (implicit feedback): a copy is a positive without its sampled negatives, which would teach
    those tasks that new items are chosen more often; their labels are missing (NaN) on copies.

    Parameters
    ----------
    share : float
        Copies per observed row of a batch, in (0, 1]; the batch arrives shuffled, so its first
        rows are a random draw.
    implicit_columns : list of int
        The target columns of the tasks implied by rows.
    """

    def __init__(self, share: float, implicit_columns: list[int]):
        self.share = share
        self.implicit_columns = list(implicit_columns)

    def __call__(self, X: dict[str, torch.Tensor], y: torch.Tensor, n_observed: int):
        """``X`` and ``y`` with the copies appended and the flag ``X["cold_item"]`` added;
        the first ``n_observed`` rows are the batch's own (sampled negatives come after)."""
        n_copies = round(self.share * n_observed)
        flag = torch.zeros(len(y) + n_copies, dtype=torch.bool)
        flag[len(y) :] = True
        labels = y[:n_copies].clone()
        labels[:, self.implicit_columns] = float("nan")
        X_out = {key: torch.cat([value, value[:n_copies]]) for key, value in X.items()}
        X_out["cold_item"] = flag
        return X_out, torch.cat([y, labels])
