"""The metadata that travels with a bigearth model's weights, like timm's ``PretrainedCfg`` extended for reBEN.

A model knows which bands it reads and in which order, which classes its outputs mean and in which order, the
image size and the normalisation that its inputs went through, and the data it was trained on. Loading a model
checks these against the data instead of trusting the user (:func:`bigearth.folders.classifier.check_compatible`).
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from bigearth.bands import IMAGE_SIZE, REBEN_STATS, BandStats, resolve_bands, sensor
from bigearth.errors import ConfigError
from bigearth.nomenclature import ClassOrder, class_names


@dataclass(frozen=True)
class ModelMetadata:
    """What a classifier's inputs and outputs mean.

    Attributes:
        backbone: bigearth backbone name (a key of :data:`bigearth.models.registry.BACKBONES` or a timm name).
        bands: band names in input channel order, e.g. ``("VV", "VH", "B02", ...)``.
        class_order: ``"table"`` or ``"alphabetical"``.
        class_names: output names in logit order (the 19 reBEN classes in ``class_order``).
        image_size: input height = width in pixels (120 for reBEN at 10 m).
        mean: per-band mean subtracted before the network, in ``bands`` order (native units).
        std: per-band standard deviation divided by, in ``bands`` order (native units).
        resample: how 20 m and 60 m bands were brought to ``image_size`` (``"nearest"`` or ``"bilinear"``).
        backbone_args: extra keyword arguments the backbone was built with (e.g. ResNet ``channels``).
        trained_on: a description of the training data (path, kind, sample counts), empty when untrained.
    """

    backbone: str
    bands: tuple[str, ...]
    class_order: ClassOrder
    class_names: tuple[str, ...]
    image_size: int = IMAGE_SIZE
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    resample: str = "nearest"
    backbone_args: dict[str, Any] = field(default_factory=dict)
    trained_on: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        backbone: str,
        bands: str | int | list[str] | tuple[str, ...],
        *,
        class_order: ClassOrder = "table",
        image_size: int = IMAGE_SIZE,
        stats: dict[str, BandStats] | None = None,
        resample: str = "nearest",
        backbone_args: dict[str, Any] | None = None,
        trained_on: dict[str, Any] | None = None,
    ) -> "ModelMetadata":
        """Build metadata from a band selection and a class order, filling names and statistics.

        Args:
            backbone: backbone name.
            bands: any band selection :func:`bigearth.bands.resolve_bands` accepts.
            class_order: ``"table"`` or ``"alphabetical"``.
            image_size: input size in pixels.
            stats: normalisation statistics per band; reBEN's train-split statistics when None.
            resample: resampling of 20 m / 60 m bands.
            backbone_args: extra backbone keyword arguments.
            trained_on: description of the training data.

        Raises:
            ConfigError: for an unknown band, preset or class order, or a band without statistics.
        """
        names = resolve_bands(bands)
        stats = REBEN_STATS if stats is None else stats
        missing = [band for band in names if band not in stats]
        if missing:
            raise ConfigError(f"no normalisation statistics for band(s) {missing}; statistics exist for {list(stats)}")
        return cls(
            backbone=backbone,
            bands=names,
            class_order=class_order,
            class_names=class_names(class_order),
            image_size=image_size,
            mean=tuple(float(stats[band].mean) for band in names),
            std=tuple(float(stats[band].std) for band in names),
            resample=resample,
            backbone_args=dict(backbone_args or {}),
            trained_on=dict(trained_on or {}),
        )

    @property
    def in_chans(self) -> int:
        """Number of input channels (= number of bands)."""
        return len(self.bands)

    @property
    def num_classes(self) -> int:
        """Number of outputs (= number of classes)."""
        return len(self.class_names)

    @property
    def sensors(self) -> tuple[str, ...]:
        """The sensors the model reads, ``("s1",)``, ``("s2",)`` or ``("s1", "s2")``."""
        return tuple(s for s in ("s1", "s2") if any(sensor(band) == s for band in self.bands))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (tuples become lists; ``sensors`` is added for readers)."""
        payload = asdict(self)
        payload["sensors"] = list(self.sensors)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in payload.items()}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "ModelMetadata":
        """Rebuild metadata from :meth:`to_dict` output (unknown keys such as ``sensors`` are ignored).

        Raises:
            ConfigError: if a required key is missing.
        """
        required = ("backbone", "bands", "class_order", "class_names")
        missing = [key for key in required if key not in payload]
        if missing:
            raise ConfigError(f"model metadata lacks {missing}; it needs at least {list(required)}")
        return cls(
            backbone=payload["backbone"],
            bands=tuple(payload["bands"]),
            class_order=payload["class_order"],
            class_names=tuple(payload["class_names"]),
            image_size=int(payload.get("image_size", IMAGE_SIZE)),
            mean=tuple(float(v) for v in payload.get("mean", ())),
            std=tuple(float(v) for v in payload.get("std", ())),
            resample=payload.get("resample", "nearest"),
            backbone_args=dict(payload.get("backbone_args", {})),
            trained_on=dict(payload.get("trained_on", {})),
        )


def _differences(expected: tuple[str, ...], found: tuple[str, ...]) -> str:
    """Describe how two name sequences differ (missing, extra, or the same names in another order)."""
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if not missing and not extra:
        return "the same names in another order"
    return f"missing {missing}, extra {extra}"


def check_compatible(
    metadata: ModelMetadata,
    *,
    bands: tuple[str, ...],
    class_names: tuple[str, ...],
    stats: dict[str, BandStats] | None = None,
    source: str = "the data",
) -> None:
    """Refuse data whose band order, class order or normalisation differs from the model's.

    Nothing is reordered silently: the user loads the data the way the model expects.

    Args:
        metadata: the model's metadata.
        bands: band names of the data's images, in channel order.
        class_names: class names of the data's labels, in label order.
        stats: normalisation statistics the data applies (checked when given).
        source: how to name the data in messages.

    Raises:
        ConfigError: naming what differs and how to load the data instead.
    """
    if tuple(bands) != metadata.bands:
        raise ConfigError(
            f"the model reads bands {list(metadata.bands)} but {source} yields {list(bands)} "
            f"({_differences(metadata.bands, tuple(bands))}); load the data with bands={list(metadata.bands)} "
            "in this order (bigearth evaluate/predict do so from the model folder)"
        )
    if tuple(class_names) != metadata.class_names:
        raise ConfigError(
            f"the model's outputs are the classes in {metadata.class_order!r} order but {source} labels them in "
            f"another order ({_differences(metadata.class_names, tuple(class_names))}); load the data with "
            f"class_order={metadata.class_order!r}"
        )
    if stats is not None and metadata.mean:
        for band, mean, std in zip(metadata.bands, metadata.mean, metadata.std, strict=True):
            same = math.isclose(stats[band].mean, mean, rel_tol=1e-6) and math.isclose(
                stats[band].std, std, rel_tol=1e-6
            )
            if not same:
                raise ConfigError(
                    f"{source} normalises band {band} with mean {stats[band].mean} / std {stats[band].std}, the model "
                    f"was trained with {mean} / {std}; use the model's statistics (config.json mean/std)"
                )
