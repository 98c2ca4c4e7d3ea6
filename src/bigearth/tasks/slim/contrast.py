"""The contrast case of the slimmability comparison: an encoder pretrained on natural-image-like data.

No ImageNet weights may be fetched here, so the contrast encoder is pretrained on the dead-leaves model of
natural images (Lee, Mumford, Huang, "Occlusion models for natural images", IJCV 2001; used for pretraining by
Baradad et al., "Learning to See by Looking at Noise", NeurIPS 2021): opaque discs with a power-law radius
distribution (``p(r) ~ r^-3``) occluding each other in random order, which reproduces the scale invariance and
``1/f`` spectra of natural photographs but none of the spectral signatures of land cover. The bands of a disc
share one intensity plus small per-band variations (as the colour channels of a photograph do). The encoder is
trained with an SSL recipe's method, backbone and views (:class:`bigearth.tasks.ssl.module.SSLPretrainingTask`)
and saved as an ordinary SSL model folder with reBEN's band metadata, so that it is probed on reBEN like the
others. ``train_contrast_encoder`` is what ``bigearth slim contrast`` runs; an encoder trained elsewhere on
natural images can be compared instead by passing its model folder to ``slim evaluate``.
"""

import warnings
from pathlib import Path

import lightning as L  # noqa: N812
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from bigearth.folders.classifier import save_model
from bigearth.models.metadata import ModelMetadata
from bigearth.tasks.extensions import instantiate
from bigearth.tasks.ssl.config import load_ssl_config
from bigearth.tasks.ssl.module import SSLPretrainingTask
from bigearth.tasks.ssl.pretrain import HEAD_NOTE

#: How the contrast data is described in the model folder's ``trained_on``.
DESCRIPTION = "dead-leaves images (natural-image-like statistics; bigearth.tasks.slim.contrast)"


def dead_leaves(*, bands: int, size: int, leaves: int = 80, generator: torch.Generator) -> Tensor:
    """Return one dead-leaves image ``(bands, size, size)``, standardised (mean 0, standard deviation 1).

    Args:
        bands: channels.
        size: side in pixels.
        leaves: discs painted, the later ones in front.
        generator: the random source.
    """
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    image = torch.randn(bands, 1, 1, generator=generator).expand(bands, size, size).clone()
    r_min, r_max = 0.01 * size, 0.5 * size
    for _ in range(leaves):
        # inverse CDF of p(r) ~ r^-3 on [r_min, r_max]
        u = float(torch.rand((), generator=generator))
        radius = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
        centre = torch.rand(2, generator=generator) * size
        disc = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < radius**2
        colour = torch.randn((), generator=generator) + 0.3 * torch.randn(bands, generator=generator)
        image = torch.where(disc, colour[:, None, None], image)
    return (image - image.mean()) / image.std().clamp_min(1e-6)


class DeadLeaves(Dataset):
    """``count`` dead-leaves images, image ``i`` drawn from seed ``seed + i`` (the same every epoch).

    Args:
        count: images.
        bands: channels.
        size: side in pixels.
        seed: seed of image 0.
    """

    def __init__(self, count: int, *, bands: int, size: int, seed: int = 0) -> None:
        self.count, self.bands, self.size, self.seed = count, bands, size, seed

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        generator = torch.Generator().manual_seed(self.seed + index)
        return {"image": dead_leaves(bands=self.bands, size=self.size, generator=generator)}


def train_contrast_encoder(recipe: Path, out: Path, *, images: int = 384, overrides: list[str] | None = None) -> Path:
    """Pretrain an SSL recipe's encoder on dead-leaves images and write its model folder ``out/model``.

    Args:
        recipe: an SSL recipe (``configs/ssl/tiny-cpu.yaml``): method, backbone, views, optimiser, epochs, bands.
        out: the folder to write (``model/`` inside it).
        images: dead-leaves images per epoch.
        overrides: dotted overrides of the recipe.

    Returns:
        The model folder.

    Raises:
        ConfigError: for an invalid recipe or one with geographic terms (dead leaves have no coordinates).
    """
    config = load_ssl_config(Path(recipe), list(overrides or []))
    L.seed_everything(config.seed_everything, workers=True, verbose=False)
    metadata = ModelMetadata.create(
        config.model.backbone, config.data.bands, class_order=config.data.class_order,  # type: ignore[arg-type]
        image_size=config.model.image_size, resample=config.data.resample, backbone_args=config.model.backbone_args,
        trained_on={"data": DESCRIPTION, "images": images},
    )  # fmt: skip
    task = SSLPretrainingTask.from_config(config, metadata)
    data = DeadLeaves(images, bands=len(metadata.bands), size=config.model.image_size, seed=config.seed_everything)
    loader = DataLoader(data, batch_size=config.data.batch_size, shuffle=True, drop_last=True)
    # no logs or checkpoints here (no run folder); the recipe's extra callbacks run, its extra loggers do not
    arguments = {key: value for key, value in config.trainer.items() if key not in ("logger", "callbacks")}
    callbacks = instantiate(config.trainer.get("callbacks", []), "callbacks", logs_dir=Path(out))
    trainer = L.Trainer(**arguments, logger=False, enable_checkpointing=False, callbacks=callbacks,
                        default_root_dir=out)  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(task, train_dataloaders=loader)
    description = {"method": config.model.method, "regulariser": config.regulariser, "epochs": trainer.current_epoch,
                   "data": DESCRIPTION}  # fmt: skip
    save_model(task.classifier.cpu().eval(), Path(out) / "model", extra={"ssl": description, "head": HEAD_NOTE})
    return Path(out) / "model"
