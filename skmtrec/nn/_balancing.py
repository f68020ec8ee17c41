"""Task balancing: how the per-task losses become the one loss that trains the network.

One small module per method, chosen by ``task_balancing=``. Each starts from the fixed task
weights (``task_weights``, 1 by default) and multiplies them by its own adaptive factor:

- ``FixedWeights``: no factor.
- ``UncertaintyWeighting``: a learned log-variance s per task; the loss is
  ``exp(-s) * L + s`` (Kendall, Gal and Cipolla, CVPR 2018), so a noisy task weighs less.
- ``GradNorm``: factors that keep the tasks' gradient norms on the last shared layers in
  proportion to how far each task still has to go (Chen et al., ICML 2018; ``GRADNORM_ALPHA``).
- ``DynamicWeightAverage``: factors from the ratio of each task's last two epoch losses
  (Liu, Johns and Davison, CVPR 2019; ``DWA_TEMPERATURE``): a task that slows down weighs more.

The adaptive state lives in the module (parameters or buffers), so it is saved and restored with
the network. Validation uses the fixed weights only (``validation_loss``), so a moving weight
cannot fake an improvement for early stopping. A task absent from a batch (every label missing)
has a loss of 0 there and adds nothing to any method's update.

``training_loss`` gets which tasks are present twice: ``present``, a bool tensor beside the
losses, for arithmetic, and ``present_on_host``, the same flags as Python bools, known before the
step, for control flow. A method that branched on the tensor would make the host wait for the
device every batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# GradNorm's asymmetry alpha (> 0, the paper's choice): how strongly a task's target gradient norm
# follows its relative loss; larger pulls lagging tasks up harder, 0 makes the norms equal.
GRADNORM_ALPHA = 1.5
# DWA's temperature T (> 0, the paper's choice): larger evens the task factors out, smaller lets
# the task whose loss slowed down most dominate.
DWA_TEMPERATURE = 2.0


# ``present_on_host`` where a caller (a unit test) gives only the tensor
def _on_host(present: torch.Tensor, present_on_host: Sequence[bool] | None) -> list[bool]:
    return present.tolist() if present_on_host is None else list(present_on_host)


class TaskBalancing(nn.Module):
    """Base: ``training_loss`` combines the per-task losses of a training batch."""

    def __init__(self, task_weights: Sequence[float]):
        super().__init__()
        self.register_buffer("task_weights", torch.as_tensor(task_weights, dtype=torch.float32))

    @property
    def n_tasks(self) -> int:
        return len(self.task_weights)

    def factors(self) -> torch.Tensor:
        """The adaptive factor of each task (1 for fixed weights)."""
        return torch.ones_like(self.task_weights)

    def weights(self) -> torch.Tensor:
        """The effective weight of each task in training now."""
        return (self.task_weights * self.factors()).detach()

    def training_loss(self, losses, present, network, present_on_host=None) -> torch.Tensor:
        """The loss a training batch backpropagates: ``losses`` per task (0 where absent),
        ``present`` (a bool tensor on their device) and ``present_on_host`` (the same, as
        bools; taken from ``present`` when None) say which tasks the batch labels."""
        return (self.task_weights * self.factors() * losses).sum()

    def validation_loss(self, losses) -> torch.Tensor:
        return (self.task_weights * losses).sum()

    def end_epoch(self, train_losses: Sequence[float]) -> None:
        """Called with each task's mean training loss after every epoch."""


class FixedWeights(TaskBalancing):
    """The fixed task weights, as given."""


class UncertaintyWeighting(TaskBalancing):
    """Homoscedastic uncertainty weighting: ``sum(exp(-s) * L + s)`` with learned s."""

    def __init__(self, task_weights):
        super().__init__(task_weights)
        self.log_variance = nn.Parameter(torch.zeros(len(self.task_weights)))

    def factors(self):
        return torch.exp(-self.log_variance)

    def training_loss(self, losses, present, network, present_on_host=None):
        terms = self.task_weights * (self.factors() * losses + self.log_variance)
        return (terms * present).sum()


class GradNorm(TaskBalancing):
    """GradNorm: factors ``n_tasks * softmax(logits)`` learned to balance gradient norms.

    Each step measures G_j, the norm of task j's weighted loss gradient on the head's last
    shared layers, and the target ``mean(G) * r_j ** alpha``, where r_j is task j's loss
    relative to its first loss, over the mean of those. The L1 gap trains the logits (through
    the net's optimizer); the network's parameters see only the weighted task losses.
    """

    alpha = GRADNORM_ALPHA

    def __init__(self, task_weights):
        super().__init__(task_weights)
        self.logits = nn.Parameter(torch.zeros(len(self.task_weights)))
        self.register_buffer("initial_losses", torch.full((len(self.task_weights),), torch.nan))

    def factors(self):
        return self.n_tasks * torch.softmax(self.logits, dim=0)

    def training_loss(self, losses, present, network, present_on_host=None):
        factors = self.factors()
        loss = (self.task_weights * factors.detach() * losses).sum()
        tasks = [j for j, here in enumerate(_on_host(present, present_on_host)) if here]
        if not torch.is_grad_enabled() or len(tasks) < 2:
            return loss
        shared = network.head.shared_parameters()
        norms = torch.zeros_like(losses)
        for j in tasks:
            grads = torch.autograd.grad(
                self.task_weights[j] * losses[j], shared, retain_graph=True, allow_unused=True
            )
            norms[j] = torch.sqrt(sum((g * g).sum() for g in grads if g is not None))
        # arithmetic on the masks, not indexing by them: nothing is read back from the device
        first = torch.isnan(self.initial_losses) & present
        self.initial_losses.copy_(torch.where(first, losses.detach(), self.initial_losses))
        with torch.no_grad():
            progress = torch.where(present, losses / self.initial_losses, 0.0)
            relative = progress / (progress.sum() / len(tasks))
            G = factors.detach() * norms
            target = (G * present).sum() / len(tasks) * relative**self.alpha
        gap = ((factors * norms - target).abs() * present).sum()
        # adds the gap's gradient (for the logits) without changing the reported loss
        return loss + gap - gap.detach()


class DynamicWeightAverage(TaskBalancing):
    """DWA: factors ``n_tasks * softmax(w / T)`` with w_j = L_j(t-1) / L_j(t-2), per epoch."""

    temperature = DWA_TEMPERATURE

    def __init__(self, task_weights):
        super().__init__(task_weights)
        n = len(self.task_weights)
        self.register_buffer("current", torch.ones(n))
        self.register_buffer("last_losses", torch.full((2, n), torch.nan))

    def factors(self):
        return self.current

    def end_epoch(self, train_losses):
        losses = torch.as_tensor(train_losses, dtype=torch.float32)
        self.last_losses = torch.stack([self.last_losses[1], losses])
        ratio = self.last_losses[1] / self.last_losses[0]
        if torch.isfinite(ratio).all():
            self.current = self.n_tasks * torch.softmax(ratio / self.temperature, dim=0)


BALANCING: dict[str, type[TaskBalancing]] = {
    "fixed": FixedWeights,
    "uncertainty": UncertaintyWeighting,
    "gradnorm": GradNorm,
    "dwa": DynamicWeightAverage,
}
