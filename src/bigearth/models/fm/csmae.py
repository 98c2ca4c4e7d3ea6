"""CSMAE and CSMoE: a cross-sensor masked autoencoder, its forward pass and its summed objective.

Pretraining forward pass, for every sensor ``s`` present in the batch: embed its patches, hide a random half
(``mask_ratio``), encode the visible ones, and decode the encoding into the pixels of every patch of every
present sensor ``t``. The losses, summed (DESIGN 2.7):

* same-sensor reconstruction: MSE of decoding ``s`` into ``s`` on ``s``'s hidden patches;
* cross-sensor reconstruction: MSE of decoding ``s`` into ``t != s`` on the same (``s``'s hidden) positions;
* cross-sensor contrastive: NT-Xent between the pooled S1 and S2 encodings of the same patches.

A batch with one sensor only gets the same-sensor term alone. The network is a plain ``nn.Module``; the
pretraining loop is :mod:`bigearth.tasks.mae`.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bigearth.models.fm.config import CrossSensorConfig
from bigearth.models.fm.contrastive_loss import cross_sensor_contrastive_loss
from bigearth.models.fm.decoder import CrossSensorDecoder
from bigearth.models.fm.encoder import CrossSensorEncoder
from bigearth.models.fm.patches import Masking, patchify, random_masking, take_tokens
from bigearth.models.fm.reconstruction_loss import masked_reconstruction_loss
from bigearth.models.metadata import ModelMetadata


@dataclass(frozen=True)
class CSMAEOutput:
    """What one pretraining forward pass produced.

    Attributes:
        predictions: ``(source, target)`` -> ``(B, N, values)`` pixels of target's patches decoded from source.
        targets: sensor -> ``(B, N, values)`` true pixels of its patches.
        masks: sensor -> its :class:`~bigearth.models.fm.patches.Masking` (True = hidden).
        pooled: sensor -> ``(B, d)`` pooled encoding of its visible patches.
    """

    predictions: dict[tuple[str, str], Tensor]
    targets: dict[str, Tensor]
    masks: dict[str, Masking]
    pooled: dict[str, Tensor]


@dataclass(frozen=True)
class LossTerms:
    """The CSMAE objective's terms (each summed over sensors or directions) and their weighted sum."""

    same_sensor: Tensor
    cross_sensor: Tensor
    contrastive: Tensor
    total: Tensor

    def as_dict(self) -> dict[str, Tensor]:
        """Return ``{"same_sensor": ..., "cross_sensor": ..., "contrastive": ..., "total": ...}``."""
        return {"same_sensor": self.same_sensor, "cross_sensor": self.cross_sensor,
                "contrastive": self.contrastive, "total": self.total}  # fmt: skip


class CrossSensorMAE(nn.Module):
    """The cross-sensor masked autoencoder (CSMAE; CSMoE when ``config.moe.num_experts > 0``).

    Args:
        config: the architecture.
        metadata: what the inputs mean (bands, statistics) and the class order of downstream tasks; recorded in
            the model folder.
    """

    def __init__(self, *, config: CrossSensorConfig, metadata: ModelMetadata | None = None) -> None:
        super().__init__()
        self.config = config
        self.metadata = metadata
        self.encoder = CrossSensorEncoder(config=config)
        self.decoder = CrossSensorDecoder(config=config)

    def forward(
        self, images: Mapping[str, Tensor], *, mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> CSMAEOutput:  # fmt: skip
        """Mask, encode and decode every sensor present in ``images``.

        Args:
            images: sensor -> ``(B, C_sensor, H, W)`` normalised images (one or both sensors).
            mask_ratio: fraction of patches to hide (default ``config.mask_ratio``).
            generator: random generator of the masks.

        Raises:
            ConfigError: for no image, an unknown sensor or a wrong image shape.
        """
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        present = [sensor for sensor in self.encoder.sensors if sensor in images]
        predictions, targets, masks, pooled = {}, {}, {}, {}
        tokens = {sensor: self.encoder.embed(images[sensor], sensor) for sensor in images}  # checks every key
        for sensor in present:
            batch, patches, _ = tokens[sensor].shape
            masks[sensor] = random_masking(batch, patches, ratio, device=tokens[sensor].device, generator=generator)
            latent = self.encoder.encode(take_tokens(tokens[sensor], masks[sensor].keep), sensor)
            pooled[sensor] = self.encoder.pool(latent)
            for target, pixels in self.decoder(latent, masks[sensor].restore, present).items():
                predictions[(sensor, target)] = pixels
            targets[sensor] = patchify(images[sensor], self.config.patch_size)
        return CSMAEOutput(predictions=predictions, targets=targets, masks=masks, pooled=pooled)


def csmae_objective(
    output: CSMAEOutput, *, temperature: float = 0.5, weights: Mapping[str, float] | None = None,
    normalize_targets: bool = False,
) -> LossTerms:  # fmt: skip
    """Return the loss terms of a forward pass and their weighted sum.

    Args:
        output: a :class:`CrossSensorMAE` forward pass.
        temperature: NT-Xent temperature.
        weights: optional weights of ``same_sensor``, ``cross_sensor`` and ``contrastive`` (default 1 each: the
            plain sum of DESIGN 2.7).
        normalize_targets: score per-patch normalised pixels (MAE's ``norm_pix_loss``).
    """
    weights = {"same_sensor": 1.0, "cross_sensor": 1.0, "contrastive": 1.0, **(weights or {})}
    zero = next(iter(output.targets.values())).new_zeros(())
    same, cross = zero, zero
    for (source, target), prediction in output.predictions.items():
        loss = masked_reconstruction_loss(prediction, output.targets[target], output.masks[source].mask,
                                          normalize=normalize_targets)  # fmt: skip
        if source == target:
            same = same + loss
        else:
            cross = cross + loss
    pooled = list(output.pooled.values())
    contrastive = cross_sensor_contrastive_loss(*pooled, temperature=temperature) if len(pooled) == 2 else zero
    total = weights["same_sensor"] * same + weights["cross_sensor"] * cross + weights["contrastive"] * contrastive
    return LossTerms(same_sensor=same, cross_sensor=cross, contrastive=contrastive, total=total)
