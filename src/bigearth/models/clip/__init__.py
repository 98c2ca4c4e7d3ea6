"""S1/S2 CLIP: a contrastive image-text network (image encoder + text encoder + learnable logit scale)."""

from bigearth.models.clip.loss import LOGIT_SCALE_INIT, LOGIT_SCALE_MAX, clip_loss
from bigearth.models.clip.model import CLIPConfig, CLIPModel, caption_tokenizer

__all__ = ["LOGIT_SCALE_INIT", "LOGIT_SCALE_MAX", "CLIPConfig", "CLIPModel", "caption_tokenizer", "clip_loss"]
