"""Masked-patch reconstruction loss of MAE and CSMAE.

The mean squared error between predicted and true pixel values of a patch, averaged over the hidden patches only
[0]. CSMAE scores a sensor's own hidden patches (same-sensor reconstruction) and the other sensor's patches at
the same hidden positions (cross-sensor reconstruction) with this one function [1].

[0] He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022; code:
    https://github.com/facebookresearch/mae (``models_mae.py``, ``forward_loss``).
[1] Hackstein et al., "Exploring Masked Autoencoders for Sensor-Agnostic Image Retrieval in Remote Sensing",
    IEEE TGRS 2024.
"""

from torch import Tensor


def masked_reconstruction_loss(prediction: Tensor, target: Tensor, mask: Tensor, *, normalize: bool = False) -> Tensor:
    """Return the mean over hidden patches of the per-patch mean squared error.

    Args:
        prediction: ``(batch_size, num_patches, patch_values)`` predicted pixels.
        target: ``(batch_size, num_patches, patch_values)`` true pixels (``patchify`` of the images).
        mask: ``(batch_size, num_patches)`` bool, True where a patch was hidden from the encoder.
        normalize: normalise each target patch to zero mean and unit variance first (MAE's ``norm_pix_loss``).

    Returns:
        A scalar.

    Raises:
        ValueError: if the shapes disagree or no patch is hidden.
    """
    if prediction.shape != target.shape or prediction.ndim != 3:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must both be "
                         "(batch_size, num_patches, patch_values)")  # fmt: skip
    if mask.shape != prediction.shape[:2]:
        raise ValueError(f"mask {tuple(mask.shape)} must be (batch_size, num_patches) = {tuple(prediction.shape[:2])}")
    hidden = mask.float()
    if not hidden.sum():
        raise ValueError("no patch is hidden (mask is all False): the masked loss is undefined; use a mask ratio > 0")
    if normalize:
        mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_patch = ((prediction.float() - target.float()) ** 2).mean(dim=-1)  # (batch_size, num_patches)
    return (per_patch * hidden).sum() / hidden.sum()
