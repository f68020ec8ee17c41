"""The fused ReLU and dropout of the heads."""

import pytest
import torch

from skmtrec.nn._activation import ReLUDropout, keep_mask


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_each_element_is_kept_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    kept = keep_mask(torch.Size([1000, 600]), p).float()
    assert kept.mean().item() == pytest.approx(1 - p, abs=0.002)
    # every position alike: no lane of the random words is biased
    for lane in range(3):
        assert kept.flatten()[lane::3].mean().item() == pytest.approx(1 - p, abs=0.004)


def test_training_drops_and_rescales_and_evaluation_is_relu():
    torch.manual_seed(0)
    x = torch.randn(2000, 300, requires_grad=True)
    layer = ReLUDropout(0.2)
    out = layer(x)
    positive = x.detach() > 0
    assert torch.all(out[~positive] == 0)
    kept = out[positive] != 0
    assert kept.float().mean().item() == pytest.approx(0.8, abs=0.005)
    torch.testing.assert_close(out[positive][kept], x.detach()[positive][kept] / 0.8)
    # the gradient passes where the output does, with the same scale
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out.detach() != 0).float() / 0.8)
    layer.eval()
    torch.testing.assert_close(layer(x), torch.relu(x))


def test_same_seed_same_mask():
    x = torch.randn(50, 40)
    layer = ReLUDropout(0.3)
    torch.manual_seed(3)
    first = layer(x)
    torch.manual_seed(3)
    torch.testing.assert_close(layer(x), first)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_a_rate_outside_zero_to_one_is_refused(p):
    with pytest.raises(ValueError, match="dropout rate"):
        ReLUDropout(p)
