"""Soft MoE, the CSMAE losses, patches and masking, each against an independent computation and their errors."""

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from bigearth.errors import ConfigError
from bigearth.models.fm.contrastive_loss import cross_sensor_contrastive_loss
from bigearth.models.fm.patches import patchify, random_masking, take_tokens
from bigearth.models.fm.reconstruction_loss import masked_reconstruction_loss
from bigearth.models.fm.soft_moe import SoftMoE


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, above all on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def moe() -> SoftMoE:
    torch.manual_seed(0)
    layer = SoftMoE(dim=8, hidden_dim=12, num_experts=4, slots_per_expert=2, groups={"s1": (0,), "s2": (1,)})
    with torch.no_grad():
        layer.scale.fill_(3.0)
        for name in ("fc1_bias", "fc2_bias"):
            getattr(layer.experts, name).normal_()
    return layer


def reference_soft_moe(layer: SoftMoE, tokens: torch.Tensor, experts: list[int]) -> torch.Tensor:
    """The Soft MoE equations written out with loops over samples, slots and tokens (no einsum)."""
    out = torch.zeros_like(tokens)
    for b in range(tokens.shape[0]):
        x = tokens[b]  # (m, d)
        xn = x / x.norm(dim=1, keepdim=True)
        slot_params = [layer.phi[:, e, s] for e in experts for s in range(layer.slots_per_expert)]
        logits = torch.stack([layer.scale * xn @ (p / p.norm()) for p in slot_params], dim=1)  # (m, slots)
        dispatch = torch.exp(logits) / torch.exp(logits).sum(dim=0, keepdim=True)
        combine = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
        outputs = []
        for j, expert in enumerate(e for e in experts for _ in range(layer.slots_per_expert)):
            slot = (dispatch[:, j : j + 1] * x).sum(dim=0)
            w1, b1 = layer.experts.fc1_weight[expert], layer.experts.fc1_bias[expert]
            w2, b2 = layer.experts.fc2_weight[expert], layer.experts.fc2_bias[expert]
            outputs.append(F.gelu(slot @ w1.T + b1) @ w2.T + b2)
        out[b] = combine @ torch.stack(outputs)
    return out


def test_soft_moe_weights_are_distributions(moe: SoftMoE) -> None:
    tokens = torch.randn(3, 10, 8)
    for sensor, count in (("s1", 3), ("s2", 3), (None, 4)):
        dispatch, combine = moe.routing(tokens, moe.active_experts(sensor))
        assert dispatch.shape == combine.shape == (3, 10, count, 2)
        assert (dispatch >= 0).all()
        assert (combine >= 0).all()
        torch.testing.assert_close(dispatch.sum(dim=1), torch.ones(3, count, 2))  # over tokens
        torch.testing.assert_close(combine.sum(dim=(2, 3)), torch.ones(3, 10))  # over slots


@pytest.mark.parametrize(("sensor", "experts"), [("s1", [0, 2, 3]), ("s2", [1, 2, 3]), (None, [0, 1, 2, 3])])
def test_soft_moe_matches_the_equations(moe: SoftMoE, sensor: str | None, experts: list[int]) -> None:
    tokens = torch.randn(2, 5, 8)
    with torch.no_grad():
        torch.testing.assert_close(moe(tokens, sensor), reference_soft_moe(moe, tokens, experts), atol=1e-5,
                                   rtol=1e-4)  # fmt: skip


def test_soft_moe_routes_a_sensor_only_to_its_own_and_the_shared_experts(moe: SoftMoE) -> None:
    tokens = torch.randn(2, 5, 8)
    before_s1, before_s2 = moe(tokens, "s1"), moe(tokens, "s2")
    with torch.no_grad():
        moe.experts.fc2_bias[1] += 10.0  # expert 1 belongs to S2
    torch.testing.assert_close(moe(tokens, "s1"), before_s1)
    assert not torch.allclose(moe(tokens, "s2"), before_s2)


def test_soft_moe_gradients_reach_every_active_expert(moe: SoftMoE) -> None:
    moe(torch.randn(2, 5, 8), "s1").sum().backward()
    grads = moe.experts.fc1_weight.grad.abs().sum(dim=(1, 2))
    assert (grads[[0, 2, 3]] > 0).all()
    assert grads[1] == 0


def test_soft_moe__error_groups() -> None:
    with pytest.raises(ConfigError, match="overlap"):
        SoftMoE(dim=4, hidden_dim=4, num_experts=2, groups={"s1": (0,), "s2": (0,)})
    with pytest.raises(ConfigError, match="outside"):
        SoftMoE(dim=4, hidden_dim=4, num_experts=2, groups={"s1": (5,)})
    with pytest.raises(ConfigError, match="without experts"):
        SoftMoE(dim=4, hidden_dim=4, num_experts=2, groups={"s1": (0,), "s2": (1,), "x": ()})
    with pytest.raises(ConfigError, match=r">= 1 expert"):
        SoftMoE(dim=4, hidden_dim=4, num_experts=0)


def test_reconstruction_loss_is_the_mean_over_hidden_patches_of_per_patch_mse() -> None:
    prediction, target = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    mask = torch.tensor([[True, False, False, True], [False, False, True, False]])
    errors = [((prediction[b, n] - target[b, n]) ** 2).mean() for b in range(2) for n in range(4) if mask[b, n]]
    torch.testing.assert_close(masked_reconstruction_loss(prediction, target, mask), torch.stack(errors).mean())
    normalised = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    torch.testing.assert_close(masked_reconstruction_loss(prediction, target, mask, normalize=True),
                               masked_reconstruction_loss(prediction, normalised, mask))  # fmt: skip


def test_reconstruction_loss__errors() -> None:
    with pytest.raises(ValueError, match="must both be"):
        masked_reconstruction_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 2), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        masked_reconstruction_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="no patch is hidden"):
        masked_reconstruction_loss(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.zeros(2, 4, dtype=torch.bool))


def test_contrastive_loss_is_nt_xent_over_both_sensors() -> None:
    a, b, tau = torch.randn(5, 6), torch.randn(5, 6), 0.5
    z = F.normalize(torch.cat([a, b]), dim=1)
    terms = []
    for i in range(10):
        positive = (i + 5) % 10
        others = [j for j in range(10) if j != i]
        denominator = sum(math.exp(float(z[i] @ z[j]) / tau) for j in others)
        terms.append(-(float(z[i] @ z[positive]) / tau - math.log(denominator)))
    expected = torch.tensor(sum(terms) / len(terms))
    torch.testing.assert_close(cross_sensor_contrastive_loss(a, b, temperature=tau), expected, atol=1e-5, rtol=1e-5)


def test_contrastive_loss__errors() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        cross_sensor_contrastive_loss(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="must both be"):
        cross_sensor_contrastive_loss(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match="positive"):
        cross_sensor_contrastive_loss(torch.randn(3, 4), torch.randn(3, 4), temperature=0.0)


def test_patchify_and_masking() -> None:
    images = torch.arange(2 * 3 * 30 * 30, dtype=torch.float32).reshape(2, 3, 30, 30)
    patches = patchify(images, 15)
    assert patches.shape == (2, 4, 15 * 15 * 3)
    torch.testing.assert_close(patches[1, 1], images[1, :, :15, 15:].permute(1, 2, 0).reshape(-1))  # row 0, column 1
    masking = random_masking(3, 64, 0.5, generator=torch.Generator().manual_seed(0))
    assert masking.keep.shape == (3, 32)
    assert masking.mask.sum(dim=1).tolist() == [32, 32, 32]
    assert not masking.mask.gather(1, masking.keep).any()  # kept patches are not masked
    tokens = torch.randn(3, 64, 5)
    kept = take_tokens(tokens, masking.keep)
    hidden = torch.zeros(3, 32, 5)
    torch.testing.assert_close(take_tokens(torch.cat([kept, hidden], 1), masking.restore)[~masking.mask],
                               tokens[~masking.mask])  # fmt: skip
    with pytest.raises(ConfigError, match="mask ratio"):
        random_masking(2, 4, 1.0)
