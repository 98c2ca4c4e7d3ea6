"""Cross-sensor foundation models: the CSMAE/CSMoE ViT, Soft MoE, masked decoders and their losses."""

# ruff: noqa: E402  (the extra's packages are checked before the modules below import them)

from bigearth._optional import require

require("lightly", "einops", extra="fm")

from bigearth.models.fm.config import CSMOE_DEFAULT, SIZES, VARIANTS, CrossSensorConfig, MoEConfig, preset
from bigearth.models.fm.contrastive_loss import cross_sensor_contrastive_loss
from bigearth.models.fm.csmae import CrossSensorMAE, CSMAEOutput, LossTerms, csmae_objective
from bigearth.models.fm.encoder import CrossSensorEncoder
from bigearth.models.fm.reconstruction_loss import masked_reconstruction_loss
from bigearth.models.fm.soft_moe import SoftMoE

__all__ = [
    "CSMOE_DEFAULT",
    "SIZES",
    "VARIANTS",
    "CSMAEOutput",
    "CrossSensorConfig",
    "CrossSensorEncoder",
    "CrossSensorMAE",
    "LossTerms",
    "MoEConfig",
    "SoftMoE",
    "cross_sensor_contrastive_loss",
    "csmae_objective",
    "masked_reconstruction_loss",
    "preset",
]
