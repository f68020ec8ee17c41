"""AdamW that updates an embedding table only in the rows a step touched.

With dense gradients, every step of AdamW reads and writes every row of every embedding table
(the weights, the gradient and both moments), however few rows the batch used: an epoch then
costs the number of steps times the size of the tables, and with many users and items the
tables, not the batches, set the time. Tables that give sparse gradients
(``nn.Embedding(..., sparse=True)``) are updated here row by row, as lazy Adam does (TensorFlow
Addons' ``LazyAdam``, torch's ``SparseAdam``): a step updates the moments of the rows it touched,
and moves those rows only.

Weight decay stays AdamW's. Each row of such a table remembers the step it was last updated at;
when a step touches it again, it first takes the decay of the steps it missed,
``(1 - lr * weight_decay) ** missed``, which is what AdamW would have applied to it, and
``catch_up`` applies what every row is owed (at the end of each epoch). What a row does not get
between its steps is AdamW's momentum: a row AdamW would keep moving on its past gradients
waits for its next gradient. Dense gradients (every other layer, or a table whose whole
gradient a step computed) get AdamW's update exactly.
"""

from __future__ import annotations

import torch
from torch.optim import Optimizer
from torch.optim.adamw import adamw


class RowwiseAdamW(Optimizer):
    """AdamW (Loshchilov & Hutter, ICLR 2019) with lazy row-wise updates for sparse gradients.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups, as for any torch optimizer.
    lr : float, default=1e-3
        Learning rate.
    betas : tuple of float, default=(0.9, 0.999)
        Decay rates of the first and second moment estimates.
    eps : float, default=1e-8
        Added to the root of the second moment.
    weight_decay : float, default=1e-2
        Decoupled weight decay: each step multiplies each weight by ``1 - lr * weight_decay``.
        A row that a sparse gradient left out takes the steps' decay it missed when it is next
        updated, or at ``catch_up``.

    Notes
    -----
    A parameter's step count (for the bias correction) counts the steps that gave it a
    gradient, as in torch's ``SparseAdam``. With dense gradients the update equals
    ``torch.optim.AdamW``'s. The missed decay is computed with the learning rate of the step
    that applies it: exact for a constant rate.

    Examples
    --------
    >>> import torch
    >>> from skmtrec.nn import RowwiseAdamW
    >>> table = torch.nn.Embedding(1000, 8, sparse=True)
    >>> optimizer = RowwiseAdamW(table.parameters(), lr=0.01)
    >>> table(torch.tensor([3, 7])).sum().backward()
    >>> optimizer.step()  # rows 3 and 7 move; the other 998 are not read
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Invalid betas: {betas}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon: {eps}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay: {weight_decay}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            dense: dict[str, list] = {"params": [], "grads": [], "moments": [], "squares": []}
            steps = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    # a tensor, as torch's AdamW keeps it, so that no step reads it on the host
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if p.grad.is_sparse and p.grad.sparse_dim() == 1:
                    state["step"] += 1
                    _sparse_update(p, p.grad, state, group, self._summing_buffer(p))
                    continue
                if "last_step" in state:  # every row is updated: first, the decay owed
                    _catch_up(p, state, group)
                    state["last_step"] += 1  # this step's decay: torch's adamw below
                dense["params"].append(p)
                dense["grads"].append(p.grad.to_dense() if p.grad.is_sparse else p.grad)
                dense["moments"].append(state["exp_avg"])
                dense["squares"].append(state["exp_avg_sq"])
                steps.append(state["step"])
            if dense["params"]:
                _adamw(dense, steps, group)
        return loss

    def _summing_buffer(self, p: torch.Tensor) -> torch.Tensor:
        """A buffer shaped as ``p``, zero between steps, where ``_sparse_update`` sums a
        gradient's entries; not state (a checkpoint need not hold it, nor a pickle: torch's
        optimizers pickle their state and groups only)."""
        buffers = self.__dict__.setdefault("_gradient_sums", {})
        if p not in buffers:
            buffers[p] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return buffers[p]

    @torch.no_grad()
    def catch_up(self) -> None:
        """Apply to every row of the sparsely updated parameters the decay of the steps it
        missed, so that the weights are AdamW's decayed weights (a checkpoint, the end of
        training)."""
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "last_step" in state:
                    _catch_up(p, state, group)


# Devices whose index_add_ adds a row's entries in their order. Elsewhere (a GPU) it adds them
# atomically, in no fixed order, where index_put_'s accumulation keeps one (it sorts the
# entries first, which costs the CPU more than the sum).
_ORDERED_INDEX_ADD = ("cpu",)


def _adamw(dense: dict, steps: list, group: dict) -> None:
    """torch's AdamW on the dense parameters (its fused kernel where the device has one), which
    also counts their steps."""
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in dense["params"])
    beta1, beta2 = group["betas"]
    adamw(
        dense["params"],
        dense["grads"],
        dense["moments"],
        dense["squares"],
        [],
        steps,
        fused=fused or None,
        amsgrad=False,
        beta1=beta1,
        beta2=beta2,
        lr=group["lr"],
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=False,
    )


def _catch_up(p, state, group) -> None:
    """Decay every row of ``p`` by the steps between its last update and the current one."""
    p.mul_(_decay(group, state["step"] - state["last_step"], p))
    state["last_step"].fill_(state["step"])


def _decay(group, missed: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(1 - lr * weight_decay) ** missed``, one factor per row, shaped to scale rows of
    ``like``."""
    kept = 1.0 - group["lr"] * group["weight_decay"]
    factors = torch.pow(kept, missed.to(like.dtype))
    return factors.view(-1, *([1] * (like.dim() - 1)))


def _sparse_update(p, grad, state, group, sums: torch.Tensor) -> None:
    """AdamW on the rows of a sparse (COO, first dimension) gradient, each first decayed by
    the steps it missed; no other row is read.

    A coalesced gradient (each row once, as DistributedDataParallel's sum over processes gives
    it) is used as it is. Otherwise a row the batch read several times has an entry per read:
    their sum is taken in ``sums``, a buffer shaped as the table and zero between steps (added
    into, read at each entry, the rows zeroed again), not by ``coalesce``, whose number of rows
    only the device knows (on a GPU, reading it makes the host wait). Each of a row's entries
    then computes the same update and writes it back to the same row.
    """
    rows, values = grad._indices()[0], grad._values()
    if not grad.is_coalesced():
        try:
            if sums.device.type in _ORDERED_INDEX_ADD:
                sums.index_add_(0, rows, values)
            else:
                sums.index_put_((rows,), values, accumulate=True)
            values = sums.index_select(0, rows)
        finally:
            sums.index_fill_(0, rows, 0)
    beta1, beta2 = group["betas"]
    step = state["step"]
    exp_avg = state["exp_avg"].index_select(0, rows).lerp_(values, 1 - beta1)
    state["exp_avg"].index_copy_(0, rows, exp_avg)
    exp_avg_sq = state["exp_avg_sq"].index_select(0, rows).mul_(beta2)
    exp_avg_sq.addcmul_(values, values, value=1 - beta2)
    state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
    if "last_step" not in state:  # the step each row was last updated at
        state["last_step"] = torch.zeros(len(p), dtype=torch.float32, device=p.device)
    # the decay of the steps a row missed and of this one: (1 - lr * weight_decay) ** (steps
    # since its last update)
    since = state["last_step"].index_select(0, rows).neg_().add_(step)
    weights = p.index_select(0, rows).mul_(_decay(group, since, p))
    # the bias-corrected step lr * m / (1 - beta1^t) / (sqrt(v / (1 - beta2^t)) + eps), with
    # the corrections as 0-dim tensors (the step lives on the device)
    correction1 = 1 - torch.pow(beta1, step)
    root_correction2 = (1 - torch.pow(beta2, step)).sqrt_()
    denominator = exp_avg_sq.sqrt_().div_(root_correction2).add_(group["eps"])
    weights.addcdiv_(exp_avg.div_(correction1), denominator, value=-group["lr"])
    p.index_copy_(0, rows, weights)
    # index_copy_ of the step, not index_fill_ with it: index_fill_ reads a tensor value back
    state["last_step"].index_copy_(0, rows, step.expand(len(rows)))
