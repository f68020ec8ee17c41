"""Task balancing methods against what their papers say they do, on losses we control."""

import numpy as np
import pytest
import torch
from torch import nn

from skmtrec.nn import DynamicWeightAverage, FixedWeights, GradNorm, UncertaintyWeighting


def test_fixed_weights_are_the_task_weights_in_training_and_validation():
    balancing = FixedWeights([1.0, 3.0])
    losses = torch.tensor([2.0, 0.5])
    present = torch.tensor([True, True])
    assert balancing.training_loss(losses, present, None).item() == pytest.approx(3.5)
    assert balancing.validation_loss(losses).item() == pytest.approx(3.5)
    np.testing.assert_allclose(balancing.weights(), [1.0, 3.0])


def test_uncertainty_weights_settle_at_the_inverse_loss():
    """exp(-s) * L + s is least at s = log L: a task's weight becomes 1 / L (Kendall et al.)."""
    balancing = UncertaintyWeighting([1.0, 1.0, 1.0])
    optimizer = torch.optim.Adam(balancing.parameters(), lr=0.05)
    losses = torch.tensor([0.5, 2.0, 8.0])
    present = torch.tensor([True, True, True])
    for _ in range(600):
        optimizer.zero_grad()
        balancing.training_loss(losses, present, None).backward()
        optimizer.step()
    np.testing.assert_allclose(balancing.weights(), 1 / losses, rtol=0.02)
    # validation stays at the fixed weights
    assert balancing.validation_loss(losses).item() == pytest.approx(10.5)


def test_uncertainty_leaves_a_task_absent_from_the_batch_alone():
    balancing = UncertaintyWeighting([1.0, 1.0])
    balancing.training_loss(torch.tensor([1.5, 0.0]), torch.tensor([True, False]), None).backward()
    assert balancing.log_variance.grad[0] != 0 and balancing.log_variance.grad[1] == 0


def test_dwa_weighs_the_task_whose_loss_falls_slowest():
    balancing = DynamicWeightAverage([1.0, 1.0])
    np.testing.assert_allclose(balancing.weights(), [1.0, 1.0])  # too few epochs yet
    balancing.end_epoch([1.0, 1.0])
    np.testing.assert_allclose(balancing.weights(), [1.0, 1.0])
    balancing.end_epoch([0.9, 0.5])  # ratios 0.9 and 0.5
    expected = 2 * torch.softmax(torch.tensor([0.9, 0.5]) / 2.0, dim=0)
    np.testing.assert_allclose(balancing.weights(), expected, rtol=1e-6)
    assert balancing.weights()[0] > balancing.weights()[1]


class _Network(nn.Module):
    """A shared layer and two task outputs, in the shape GradNorm asks of a network."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.outputs = nn.ModuleList(nn.Linear(4, 1) for _ in range(2))
        self.head = self

    def shared_parameters(self):
        return [self.shared.weight]

    def forward(self, x):
        h = torch.relu(self.shared(x))
        return [out(h).squeeze(1) for out in self.outputs]


def test_gradnorm_raises_the_weight_of_the_task_that_lags():
    """Task 0 stays at its first loss while task 1 halves: GradNorm gives task 0 more weight
    (its target gradient norm grows with its relative inverse training rate)."""
    torch.manual_seed(0)
    network = _Network()
    balancing = GradNorm([1.0, 1.0])
    optimizer = torch.optim.Adam(balancing.parameters(), lr=0.05)
    x = torch.randn(64, 4)
    present = torch.tensor([True, True])
    for step in range(100):
        out = network(x)
        scale = torch.tensor([1.0, 1.0 if step == 0 else 0.5])  # task 1 has made progress
        losses = torch.stack([(o**2).mean() for o in out]) * scale
        optimizer.zero_grad()
        loss = balancing.training_loss(losses, present, network)
        # the reported loss is the weighted sum; the balancing gap only adds gradients
        expected = (balancing.weights() * losses).sum()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
        loss.backward()
        optimizer.step()
    weights = balancing.weights()
    assert weights[0] > 1.0 > weights[1]
    assert weights.sum().item() == pytest.approx(2.0)


def test_gradnorm_outside_training_is_the_weighted_sum():
    balancing = GradNorm([2.0, 1.0])
    with torch.no_grad():
        loss = balancing.training_loss(torch.tensor([1.0, 1.0]), torch.tensor([True, True]), None)
    assert loss.item() == pytest.approx(3.0)
