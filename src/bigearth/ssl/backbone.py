"""The encoder that self-supervised methods train: a bigearth scene classifier's timm backbone, pooled.

Training the classifier's backbone (its head untouched) means the pretrained weights are saved as an ordinary
bigearth model folder (:func:`bigearth.folders.classifier.save_model`): :func:`bigearth.models.encoders.load_encoder`
reads it for kNN and linear probes, and a classification recipe fine-tunes it through ``model.weights``.
"""

from torch import Tensor, nn

from bigearth.models.classifier import SceneClassifier


class PooledBackbone(nn.Module):
    """Pooled pre-logits features of a :class:`~bigearth.models.classifier.SceneClassifier`.

    Args:
        classifier: the network whose backbone is trained.

    Shapes:
        input: ``(B, in_chans, H, W)`` normalised images; output: ``(B, feature_dim)``.
    """

    def __init__(self, classifier: SceneClassifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.feature_dim = int(classifier.backbone.num_features)

    def forward(self, images: Tensor) -> Tensor:
        """Return pooled features ``(B, feature_dim)``."""
        return self.classifier.forward_head(self.classifier.forward_features(images), pre_logits=True)
