r"""``bigearth train`` for CLIP recipes (``task: clip``): fit, pick the best checkpoint, test it, write the run folder.

The run folder is laid out as a classification run's (:mod:`bigearth.tasks.run`): ``config.yaml``,
``logs/metrics.csv``, ``checkpoints/`` (``last.ckpt`` every epoch, ``best-*.ckpt`` on the validation
text->image recall@10), ``model/`` (``config.json`` + ``model.safetensors`` + ``vocab.txt`` of the best checkpoint,
:mod:`bigearth.folders.clip`) and, written last, ``metrics.json``: the validation and test reports of the best
checkpoint and ``untrained``, the test report of the same network before training (its random image encoder:
the baseline that zero-shot AP and recall@k must beat; a resumed run evaluates it again, on the network that the
same seed builds). Running the same command again on an interrupted run resumes it.
"""

from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812

from bigearth.atomic import atomic_write_json
from bigearth.errors import ConfigError
from bigearth.folders.clip import save_clip_model
from bigearth.models.clip.model import caption_tokenizer
from bigearth.models.metadata import ModelMetadata
from bigearth.tasks.clip.config import CLIPTrainConfig, parse_clip_config
from bigearth.tasks.clip.data import CLIPDataModule
from bigearth.tasks.clip.metrics import CLIPReport
from bigearth.tasks.clip.module import MONITOR, CLIPTask
from bigearth.tasks.run import RunFolder, prepare_run
from bigearth.tasks.trainer import evaluated_entries, fit_and_evaluate, supervised_trainer


def build_clip_data(config: CLIPTrainConfig) -> CLIPDataModule:
    """Return the recipe's data module (its tokenizer is the model's).

    Raises:
        ConfigError: if the images or the texts are not configured, or a split has captions of fewer than 2 patches.
        MissingDataError: if a file is missing or the captions describe patches the data lacks.
        MetadataError: if the texts file is malformed or holds no caption.
    """
    data = config.data
    if not data.path:
        raise ConfigError("no data: pass --data PATH (a store or a release root) or set data.path in the recipe")
    if not data.texts:
        raise ConfigError(
            "no texts: set data.texts=FILE.parquet (from `bigearth text generate --data DATA --out FILE`)"
        )
    datamodule = CLIPDataModule(
        data.path, data.texts, data.bands, tokenizer=caption_tokenizer(config.model), class_order=data.class_order,
        batch_size=data.batch_size, num_workers=data.num_workers, resample=data.resample,
        include_snow_cloud=data.include_snow_cloud, device_transform=data.device_transform,
    )  # fmt: skip
    patches = datamodule.captions.groupby("split")["patch_id"].nunique()
    empty = [split for split in ("train", "validation", "test") if patches.get(split, 0) < 2]
    if empty:
        raise ConfigError(
            f"{data.texts} has captions of fewer than 2 patches in {empty}; CLIP training contrasts patches and needs "
            "two or more in each of train, validation and test"
        )
    return datamodule


def build_clip_task(config: CLIPTrainConfig, datamodule: CLIPDataModule) -> CLIPTask:
    """Return the task of a recipe; bands, statistics and class order come from the data module.

    Raises:
        ConfigError: for unknown encoders or arguments timm rejects.
    """
    frame = datamodule.captions
    metadata = ModelMetadata.create(
        config.model.image_encoder, datamodule.bands, stats=datamodule.stats, resample=config.data.resample,
        class_order=config.data.class_order, backbone_args=config.model.image_backbone_args,
        trained_on={"path": str(datamodule.path.resolve()), "texts": str(datamodule.texts.resolve()),
                    "captions_per_split": {str(k): int(v) for k, v in frame["split"].value_counts().items()},
                    "include_snow_cloud": config.data.include_snow_cloud},
    )  # fmt: skip
    return CLIPTask.from_configs(metadata, config.model, vocab=str(datamodule.tokenizer.vocab),
                                 optimizer=config.optimizer, scheduler=config.scheduler)  # fmt: skip


def untrained_report(config: CLIPTrainConfig, task: CLIPTask, datamodule: CLIPDataModule) -> CLIPReport:
    """Return the test report of the network before training, on one device of the recipe's accelerator."""
    evaluator = L.Trainer(accelerator=config.trainer.get("accelerator", "auto"), devices=1, logger=False,
                          precision=config.trainer.get("precision", "32-true"), enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    evaluator.test(task, datamodule=datamodule, verbose=False)
    return task.reports.pop("test")


def train_clip(
    config: CLIPTrainConfig, *, out: Path | None = None, callbacks: list[L.Callback] | None = None
) -> RunFolder:
    """Train a CLIP recipe and write its run folder, with the arguments of :func:`bigearth.tasks.train.train`.

    Raises:
        ConfigError: for an invalid recipe, a finished run in ``out`` or one of another recipe.
        MissingDataError, MetadataError: if the data or the texts lack what the recipe asks for.
    """
    run, resume = prepare_run(config, out, parse=parse_clip_config)
    L.seed_everything(config.seed_everything, workers=True, verbose=False)
    datamodule = build_clip_data(config)
    task = build_clip_task(config, datamodule)
    # a resumed run evaluates it again: the same seed builds the same network before its checkpoint is loaded
    untrained = untrained_report(config, task, datamodule)
    trainer = supervised_trainer(config, run, early_stopping=config.early_stopping, monitor=MONITOR, label="r10",
                                 callbacks=callbacks)  # fmt: skip
    best = fit_and_evaluate(trainer, task, datamodule, resume_from=run.resume_checkpoint() if resume else None)
    if trainer.is_global_zero:
        write_clip_results(run, task, datamodule, config, best_checkpoint=best, epochs=trainer.current_epoch,
                           untrained=untrained)  # fmt: skip
    trainer.strategy.barrier("bigearth-clip-results")
    return run


def write_clip_results(
    run: RunFolder, task: CLIPTask, datamodule: CLIPDataModule, config: CLIPTrainConfig, *, best_checkpoint: str,
    epochs: int, untrained: CLIPReport,
) -> None:  # fmt: skip
    """Write the model folder and, last, ``metrics.json`` (the completion marker)."""
    network = task.network.cpu().eval()
    save_clip_model(network, datamodule.tokenizer, run.model_dir)
    entries: dict[str, Any] = {
        "run": config.name,
        "task": "clip",
        "loss": "symmetric InfoNCE as open_clip's ClipLoss, learnable logit scale clamped to [0, log 100]",
        "image_encoder": config.model.image_encoder,
        "text_encoder": config.model.text_encoder,
        "bands": list(task.metadata.bands),
        "parameters": sum(parameter.numel() for parameter in network.parameters()),
        "truncated_captions": {split: datamodule.dataset(split).truncated for split in ("train", "validation", "test")},
        "untrained": untrained.to_dict(),
        **evaluated_entries(task.reports, best_checkpoint=best_checkpoint, monitor=MONITOR, epochs=epochs),
    }
    atomic_write_json(run.metrics_file, entries)
