"""Cross-sensor contrastive loss of CSMAE: NT-Xent between the pooled S1 and S2 features of the same places.

The S1 and S2 features of one patch are a positive pair; the other patches of the batch, of both sensors, are
the negatives, as in SimCLR's NT-Xent [0] with the two sensors as the two views [1]. With L2-normalised features
``a_i`` (S1) and ``b_i`` (S2) and ``z = [a; b]`` (2B rows), the loss is::

    l_i = -log( exp(<z_i, z_j(i)> / tau) / sum_{k != i} exp(<z_i, z_k> / tau) ),  j(i) = the other sensor of i

averaged over all 2B rows. The computation is lightly's ``NTXentLoss`` [2] (gathering features across processes
under DDP).

[0] Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.
[1] Hackstein et al., "Exploring Masked Autoencoders for Sensor-Agnostic Image Retrieval in Remote Sensing",
    IEEE TGRS 2024.
[2] https://github.com/lightly-ai/lightly (``lightly/loss/ntx_ent_loss.py``)
"""

import torch.distributed as dist
from lightly.loss import NTXentLoss
from torch import Tensor


def cross_sensor_contrastive_loss(first: Tensor, second: Tensor, *, temperature: float = 0.5) -> Tensor:
    """Return NT-Xent between the pooled features of two sensors of the same patches.

    Args:
        first: ``(batch_size, dim)`` features of one sensor (not yet normalised).
        second: ``(batch_size, dim)`` features of the other sensor, row i of the same patch as ``first``'s row i.
        temperature: the softmax temperature tau (0.5 in CSMAE).

    Returns:
        A scalar.

    Raises:
        ValueError: if the shapes differ, the batch holds fewer than two patches (no negatives) or the
            temperature is not positive.
    """
    if first.ndim != 2 or first.shape != second.shape:
        raise ValueError(f"features {tuple(first.shape)} and {tuple(second.shape)} must both be (batch_size, dim)")
    if first.shape[0] < 2:
        raise ValueError("the contrastive loss needs a batch of at least 2 patches (the others are its negatives)")
    if temperature <= 0:
        raise ValueError(f"temperature {temperature} must be positive")
    distributed = dist.is_available() and dist.is_initialized()
    return NTXentLoss(temperature=temperature, gather_distributed=distributed)(first.float(), second.float())
