"""Self-supervised pretraining as a ``LightningModule``: two augmented views, one method, optional geography.

One step for every method (:meth:`SSLPretrainingTask.objective`): two views of the batch from the ``augment``
pipeline (on the batch's device; DINO's multi-crop adds local views), the method's loss on them, then one
geographic term on view 0, alpha-mixed as in the GeoRank reference code (https://github.com/tomburgert/georank,
``ssl_base.py``): ``(1 - alpha) L_ssl + alpha L_georank`` (GeoRank on the outputs the method names:
:attr:`~bigearth.ssl.methods.base.SSLOutput.ranked`) or ``(1 - alpha) L_ssl + alpha L_location`` (location
clusters, GASSL, on view 0's projection). With a ``slimmable`` section the method also runs at smaller widths of
the backbone (:mod:`bigearth.slim.sandwich`), adding ``L_slim``, their summed losses.

Logged keys: ``train/loss`` (per step and epoch), ``train/ssl``, ``train/georank``, ``train/location``, ``train/slim``
(per epoch)
and ``train/momentum``. With temporal views (``temporal.enabled``) view 1 comes from ``image_other``, another
acquisition of the same place (:class:`bigearth.data.locations.TemporalPairs`), augmented unless
``temporal.augment`` is false.

Bad input: a batch without ``lat``/``lon`` while a geographic term is on is refused (``MissingDataError``); NaN or
infinite pixels (of either view: ``image_other`` too) or coordinates stop training with a ``CorruptDataError``
naming the patches; a non-finite loss from finite inputs (divergence) stops it with a ``ConfigError``. Nothing
trains on a NaN loss.
"""

from dataclasses import asdict
from typing import Any

import lightning as L  # noqa: N812
import torch
from lightly.utils.scheduler import cosine_schedule
from torch import Tensor, nn

from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata
from bigearth.slim.sandwich import Sandwich, SlimmableConfig
from bigearth.slim.switch import WidthSwitch
from bigearth.ssl.augment import build_augmentations
from bigearth.ssl.backbone import PooledBackbone
from bigearth.ssl.georank_loss import GeoRankLoss
from bigearth.ssl.location_clusters import LocationClusterHead
from bigearth.ssl.methods import build_method
from bigearth.tasks.config import SchedulerConfig
from bigearth.tasks.schedule import optimizer_with_schedule
from bigearth.tasks.ssl.config import (
    GeoRankConfig,
    LocationClusterConfig,
    MultiCropConfig,
    SSLConfig,
    SSLModelConfig,
    SSLOptimizerConfig,
    TemporalConfig,
)


class SSLPretrainingTask(L.LightningModule):
    """Pretrain a scene classifier's backbone with a self-supervised method.

        The constructor takes plain data (checkpoints rebuild the task from its hyper-parameters) and keeps it as
        typed attributes.

    Args:
            metadata: :meth:`ModelMetadata.to_dict` of the encoder (bands, statistics, backbone).
            model: :class:`~bigearth.tasks.ssl.config.SSLModelConfig` fields.
            augment: the view pipeline (:func:`bigearth.ssl.augment.build_augmentations` entries).
            georank: :class:`~bigearth.tasks.ssl.config.GeoRankConfig` fields.
            location_clusters: :class:`~bigearth.tasks.ssl.config.LocationClusterConfig` fields.
            centres: ``(clusters, 3)`` unit-vector location-cluster centres (with location clusters on).
            optimizer: :class:`~bigearth.tasks.ssl.config.SSLOptimizerConfig` fields.
            scheduler: :class:`~bigearth.tasks.config.SchedulerConfig` fields.
            slimmable: :class:`~bigearth.slim.sandwich.SlimmableConfig` fields.
            multicrop: :class:`~bigearth.tasks.ssl.config.MultiCropConfig` fields.
            temporal: :class:`~bigearth.tasks.ssl.config.TemporalConfig` fields.

        Batches are dicts with ``image`` ``(B, C, H, W)`` normalised, and ``lat``/``lon`` ``(B,)`` degrees and
        ``patch_id`` as :class:`bigearth.data.datamodule.ReBENDataModule` yields them (with temporal views also
    ``image_other`` ``(B, C, H, W)``).
    """

    def __init__(
        self,
        metadata: dict[str, Any],
        model: dict[str, Any] | None = None,
        augment: list[Any] | None = None,
        georank: dict[str, Any] | None = None,
        location_clusters: dict[str, Any] | None = None,
        centres: list[list[float]] | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        slimmable: dict[str, Any] | None = None,
        multicrop: dict[str, Any] | None = None,
        temporal: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.metadata = ModelMetadata.from_dict(metadata)
        self.model_config = SSLModelConfig(**(model or {}))
        self.georank_config = GeoRankConfig(**(georank or {}))
        self.location_config = LocationClusterConfig(**(location_clusters or {}))
        self.optimizer_config = SSLOptimizerConfig(**(optimizer or {}))
        self.multicrop_config = MultiCropConfig(**(multicrop or {}))
        self.temporal_config = TemporalConfig(**(temporal or {}))
        self.scheduler_config = SchedulerConfig(**(scheduler or {}))
        self.slimmable_config = SlimmableConfig(**(slimmable or {}))
        self.augment_specs = list(augment) if augment is not None else None
        self.configure_models(centres)

    def configure_models(self, centres: list[list[float]] | None) -> None:
        """Build the encoder, the method around it, the view pipeline and the geographic terms."""
        config = self.model_config
        #: the network whose backbone is pretrained (saved as a bigearth model folder)
        self.classifier = SceneClassifier(self.metadata)
        self.classifier.backbone.get_classifier().requires_grad_(False)  # the untrained head (no DDP unused params)
        backbone: nn.Module = PooledBackbone(self.classifier)
        feature_dim = backbone.feature_dim
        self.sandwich = None
        if self.slimmable_config.enabled:  # the method sees the backbone through a width switch
            backbone = WidthSwitch(backbone, pad_to=feature_dim)
            self.sandwich = Sandwich(self.slimmable_config, backbone)
        self.method = build_method(config.method, backbone=backbone, feature_dim=feature_dim,
                                   arguments=config.method_args)  # fmt: skip
        specs = self.augment_specs if self.augment_specs is not None else SSLConfig().augment
        self.augment = build_augmentations(specs)
        self.local_augment = (build_augmentations(self.multicrop_config.local_pipeline(specs))
                              if self.multicrop_config.local_views else None)  # fmt: skip
        georank = self.georank_config
        self.georank = GeoRankLoss(**georank.loss_arguments()) if georank.enabled else None
        self.location_head = None
        if self.location_config.enabled:
            if not centres:
                raise ConfigError(
                    "location clusters are on but no cluster centres were given (fit them on the training split "
                    "with bigearth.ssl.location_clusters.fit_location_clusters)"
                )
            self.location_head = LocationClusterHead(in_dim=self.method.projection_dim, centres=torch.tensor(centres))

    def on_train_start(self) -> None:
        """Remember the run's number of optimisation steps (the momentum schedule's length)."""
        self._total_steps = max(1, int(self.trainer.estimated_stepping_batches))

    def momentum(self) -> float:
        """The momentum network's EMA rate now (:func:`ema_momentum`)."""
        return ema_momentum(self.model_config, epoch=self.current_epoch, step=self.global_step,
                            total_steps=getattr(self, "_total_steps", 1))  # fmt: skip

    def objective(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Return the loss of a batch (``loss``) and its terms (``ssl``, ``georank``, ``location``).

        Raises:
            MissingDataError: if a geographic term is on and the batch has no ``lat``/``lon``.
            CorruptDataError: for NaN or infinite pixels or coordinates, naming the patches.
            ConfigError: if the loss is not finite although the inputs are (training diverged).
        """
        geographic = self.georank is not None or self.location_head is not None
        if geographic and ("lat" not in batch or "lon" not in batch):
            raise MissingDataError("GeoRank and location clusters need each patch's lat/lon in the batch (the reBEN "
                                   "datasets provide them); switch them off for data without coordinates")  # fmt: skip
        finite = torch.isfinite(batch["image"]).all()
        if self.temporal_config.enabled and "image_other" in batch:  # view 1 (another date) trains too
            finite = finite & torch.isfinite(batch["image_other"]).all()
        if geographic:
            finite = finite & torch.isfinite(batch["lat"]).all() & torch.isfinite(batch["lon"]).all()
        if not bool(finite):  # one host sync per step, before anything trains on the batch
            _diagnose(batch, None)
        terms = self._terms(batch)
        if not bool(torch.isfinite(terms["loss"])):
            _diagnose(batch, None)
            values = {name: round(value.item(), 6) for name, value in terms.items()}
            raise ConfigError(
                f"the SSL loss is not finite ({values}) although the inputs are: training diverged; lower model.lr "
                "or train in 32-bit precision"
            )
        return terms

    def _terms(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        images, second = batch["image"], batch["image"]
        augmented = True
        if self.temporal_config.enabled:  # view 1: another date of the same place
            if "image_other" not in batch:
                raise MissingDataError("temporal views are on but the batch has no image_other (another "
                                       "acquisition of each patch): load it with bigearth.data.locations.TemporalPairs"
                                       )  # fmt: skip
            second, augmented = batch["image_other"], self.temporal_config.augment
        views = [self.augment(images), self.augment(second)] if augmented else [images, second]
        if self.local_augment is not None:
            views += [self.local_augment(images) for _ in range(self.multicrop_config.local_views)]
        if self.sandwich is None:
            output, slim = self.method(*views), None
        else:  # every buffer of the method (queue, statistics) is as the full width alone leaves it
            output, slim = self.sandwich(lambda: self.method(*views), step=self.global_step,
                                         loss=lambda out: out.loss.float(), target=lambda out: out.projections,
                                         state=[self.method])  # fmt: skip
        terms = {"ssl": output.loss.float()}
        loss = terms["ssl"]
        if self.georank is not None:  # the mean over the ranked outputs (DINO: teacher and student)
            ranked = [self.georank(out, batch["lat"], batch["lon"]) for out in output.ranked]
            terms["georank"] = torch.stack(ranked).mean()
            loss = (1 - self.georank_config.alpha) * loss + self.georank_config.alpha * terms["georank"]
        if self.location_head is not None:
            terms["location"] = self.location_head(output.projections, batch["lat"], batch["lon"])
            loss = (1 - self.location_config.alpha) * loss + self.location_config.alpha * terms["location"]
        if slim is not None:
            terms["slim"] = slim
            loss = loss + slim
        return {"loss": loss, **terms}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Update the momentum network, then return the loss of the batch."""
        momentum = self.momentum()
        self.method.update_momentum(momentum)
        terms = self.objective(batch)
        size = len(batch["image"])
        self.log("train/loss", terms["loss"], on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        self.log_dict({f"train/{name}": value for name, value in terms.items() if name != "loss"}, on_step=False,
                      on_epoch=True, batch_size=size)  # fmt: skip
        if self.method.uses_momentum:
            self.log("train/momentum", momentum, on_step=True, on_epoch=False, batch_size=size)
        return terms["loss"]

    def on_after_backward(self) -> None:
        """Let the method adjust its gradients (DINO's frozen prototypes in the first epoch)."""
        self.method.after_backward(self.current_epoch)

    def configure_optimizers(self) -> dict[str, Any]:
        """The configured timm optimiser and warm-up + cosine per step (constant with ``final_lr_fraction: 1``)."""
        return optimizer_with_schedule(
            self,
            name=self.optimizer_config.name,
            lr=self.model_config.lr,
            weight_decay=self.optimizer_config.weight_decay,
            momentum=self.optimizer_config.momentum,
            filter_bias_and_bn=self.optimizer_config.exclude_bias_and_norm,
            warmup_steps=self.scheduler_config.warmup_steps,
            total_steps=int(self.trainer.estimated_stepping_batches),
            final_fraction=self.scheduler_config.final_lr_fraction,
        )

    @classmethod
    def from_config(
        cls, config: SSLConfig, metadata: ModelMetadata, *, centres: Tensor | None = None
    ) -> "SSLPretrainingTask":
        """Build a task from a recipe (and the location-cluster centres, when they are on)."""
        return cls(
            metadata=metadata.to_dict(),
            model=asdict(config.model),
            augment=config.augment,
            georank=asdict(config.georank),
            location_clusters=asdict(config.location_clusters),
            centres=centres.tolist() if centres is not None else None,
            optimizer=asdict(config.optimizer),
            scheduler=asdict(config.scheduler),
            slimmable=asdict(config.slimmable),
            multicrop=asdict(config.multicrop),
            temporal=asdict(config.temporal),
        )


def ema_momentum(config: SSLModelConfig, *, epoch: int, step: int, total_steps: int) -> float:
    """Return the momentum network's EMA rate: cosine from ``config.momentum[0]`` to ``config.momentum[1]``.

    Per step over the run (``config.momentum_epochs`` 0), or per epoch over ``config.momentum_epochs`` epochs and
    then ``momentum[1]``: lightly's ``cosine_schedule(epoch, N, start, end)`` as the GeoRank reference code calls it
    (``ssl_base.py``), which reaches ``end`` at epoch ``N - 1``.

    Args:
        config: the model section (``momentum``, ``momentum_epochs``).
        epoch: the current epoch, from 0.
        step: the current optimisation step, from 0.
        total_steps: optimisation steps of the run.
    """
    start, end = config.momentum
    if config.momentum_epochs:
        return cosine_schedule(min(epoch, config.momentum_epochs), config.momentum_epochs, start, end)
    return cosine_schedule(min(step, total_steps), total_steps, start, end)


def _diagnose(batch: dict[str, Any], error: Exception | None) -> None:
    """Raise a ``CorruptDataError`` naming the patches whose pixels or coordinates are not finite, if any.

    Raises:
        CorruptDataError: for NaN or infinite pixels or coordinates.
    """
    names = list(batch.get("patch_id", range(len(batch["image"]))))
    views = (("image", names, "patch(es)"),
             ("image_other", batch.get("patch_id_other", names), "other acquisition(s) (image_other)"))  # fmt: skip
    for key, view_names, what in views:
        if key not in batch:
            continue
        pixels = ~torch.isfinite(batch[key]).flatten(1).all(dim=1)
        if bool(pixels.any()):
            bad = [view_names[i] for i in pixels.nonzero().flatten().tolist()]
            raise CorruptDataError(f"{len(bad)} {what} have NaN or infinite pixel values, e.g. {bad[:5]}; check the "
                                   "store (`bigearth verify`) or the normalisation statistics") from error  # fmt: skip
    if "lat" in batch and "lon" in batch:
        places = ~(torch.isfinite(batch["lat"]) & torch.isfinite(batch["lon"]))
        if bool(places.any()):
            bad = [names[i] for i in places.nonzero().flatten().tolist()]
            raise CorruptDataError(f"{len(bad)} patch(es) have no coordinates (NaN lat/lon), e.g. {bad[:5]}; the "
                                   "geographic terms need them: fix the metadata or switch georank/location_clusters "
                                   "off") from error  # fmt: skip
