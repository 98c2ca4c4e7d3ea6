r"""``bigearth train`` for classification recipes: fit, select the best checkpoint, test it, write the run folder.

Scale. The recipe's ``trainer`` section goes to ``lightning.Trainer`` as it is, so precision, devices, nodes and
strategy are configuration; ``data.batch_size`` and ``data.num_workers`` are per process (per GPU).

* One GPU, bf16 mixed precision: the published recipes set ``trainer.precision: bf16-mixed``.
* Several GPUs of one machine: ``bigearth train RECIPE --data STORE --out RUN trainer.devices=4
  trainer.strategy=ddp`` (Lightning starts one process per GPU).
* torchrun, the same command on every node (``$(which bigearth)`` is a Python script)::

      torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \
          $(which bigearth) train configs/classification/resnet50-s1s2.yaml --data /data/reben-store \
          --out /shared/runs/resnet50-s1s2 trainer.devices=4 trainer.num_nodes=2 trainer.strategy=ddp

* SLURM: an sbatch script with ``#SBATCH --nodes=2 --ntasks-per-node=4 --gpus-per-node=4`` runs
  ``srun bigearth train ... --out /shared/runs/resnet50-s1s2 trainer.devices=4 trainer.num_nodes=2
  trainer.strategy=ddp``; Lightning reads the SLURM variables.

Every process reads the same recipe and writes to the same run folder, on a file system all nodes share: give
``--out`` when torchrun or SLURM start the processes (the default name carries a timestamp). Only rank 0 writes the
model, plots and metrics; validation and test scores are gathered from all ranks and each patch counts once.

Resume: run the same command again (or ``bigearth train RUN``). Training continues from
``checkpoints/last.ckpt``, written atomically at the end of every epoch, exactly as if it had not stopped
(:mod:`bigearth.tasks.determinism`); a partial epoch is trained again.
"""

import json
from pathlib import Path
from typing import Any, TypeVar

import lightning as L  # noqa: N812
import torch
from rich.table import Table

from bigearth.atomic import atomic_write_json
from bigearth.data.datamodule import ReBENDataModule
from bigearth.errors import ConfigError
from bigearth.evaluation.metrics import THRESHOLD, report_from_dict
from bigearth.evaluation.plots import write_plots
from bigearth.evaluation.report import report_table
from bigearth.folders.classifier import save_model
from bigearth.models.metadata import ModelMetadata, check_compatible
from bigearth.tasks.classification import MONITOR, ClassificationTask
from bigearth.tasks.config import DataConfig, TrainConfig
from bigearth.tasks.run import RunFolder, prepare_run
from bigearth.tasks.trainer import evaluated_entries, fit_and_evaluate, supervised_trainer

DataModuleT = TypeVar("DataModuleT", bound=ReBENDataModule)


def build_datamodule(data: DataConfig, module: type[DataModuleT] = ReBENDataModule, **options: Any) -> DataModuleT:
    """Return the recipe's data module.

    Args:
        data: the recipe's ``data`` section.
        module: the data module class (a :class:`~bigearth.data.datamodule.ReBENDataModule`).
        options: arguments that replace the section's (e.g. ``augment=False``).

    Raises:
        ConfigError: if no data path is configured, or for unknown bands / class orders.
        MissingDataError: if the path is neither a store nor a release root.
    """
    if not data.path:
        raise ConfigError("no data: pass --data PATH (a store or a release root) or set data.path in the recipe")
    arguments = {"batch_size": data.batch_size, "num_workers": data.num_workers, "class_order": data.class_order,
                 "resample": data.resample, "include_snow_cloud": data.include_snow_cloud,
                 "device_transform": data.device_transform, "augment": data.augment, "loader": data.loader}  # fmt: skip
    return module(data.path, data.bands, **{**arguments, **options})


def describe_data(datamodule: L.LightningDataModule) -> dict[str, Any]:
    """Describe the training data for a model's ``trained_on`` record (path, kind, counts, options)."""
    description: dict[str, Any] = {}
    if isinstance(datamodule, ReBENDataModule):
        train = datamodule.dataset("train")
        description = {
            "path": str(datamodule.path.resolve()),
            "kind": train.source_kind,
            "train_samples": len(train),
            "validation_samples": len(datamodule.dataset("validation")),
        }
        manifest = getattr(train.source, "manifest", None)
        if manifest:
            description["store_format"] = {
                key: manifest[key] for key in ("format", "format_version") if key in manifest
            }
    return description


def build_task(config: TrainConfig, datamodule: L.LightningDataModule) -> ClassificationTask:
    """Return the task for a recipe, its metadata taken from the data module (bands, classes, statistics).

    Raises:
        ConfigError: for an unknown backbone or a backbone argument timm rejects, or a data module whose class
            order is not the recipe's.
    """
    metadata = ModelMetadata.create(
        config.model.backbone,
        datamodule.bands,
        class_order=config.data.class_order,  # type: ignore[arg-type]
        image_size=config.model.image_size,
        stats=datamodule.stats,
        resample=config.data.resample,
        backbone_args=config.model.backbone_args,
        trained_on={**describe_data(datamodule), "include_snow_cloud": config.data.include_snow_cloud},
    )
    # a data module passed in by the caller must label in the recipe's class order
    check_compatible(metadata, bands=datamodule.bands, class_names=datamodule.class_names, source="the data module")
    return ClassificationTask.from_configs(metadata, config.model, config.optimizer, config.scheduler)


def train(
    config: TrainConfig,
    *,
    out: Path | None = None,
    datamodule: L.LightningDataModule | None = None,
    callbacks: list[L.Callback] | None = None,
) -> RunFolder:
    """Train a classification recipe and write its run folder.

    Args:
        config: the resolved recipe.
        out: run folder; ``runs/<name>-<timestamp>`` when None. An interrupted run there is resumed.
        datamodule: data to use instead of building one from ``config.data`` (tests, notebooks).
        callbacks: extra Lightning callbacks.

    Returns:
        The run folder.

    Raises:
        ConfigError: for an invalid recipe, a finished run in ``out`` or one of another recipe.
        MissingDataError: if the data lacks what the recipe asks for.
    """
    run, resume = prepare_run(config, out)
    L.seed_everything(config.seed_everything, workers=True, verbose=False)
    datamodule = datamodule if datamodule is not None else build_datamodule(config.data)
    task = build_task(config, datamodule)
    trainer = supervised_trainer(config, run, early_stopping=config.early_stopping, monitor=MONITOR, label="macro_ap",
                                 callbacks=callbacks)  # fmt: skip
    fitted: Any = torch.compile(task) if config.model.compile else task
    best = fit_and_evaluate(trainer, task, datamodule, resume_from=run.resume_checkpoint() if resume else None,
                            fitted=fitted)  # fmt: skip
    if trainer.is_global_zero:
        write_results(run, task, config, best_checkpoint=best, epochs=trainer.current_epoch)
    trainer.strategy.barrier("bigearth-results")  # every rank returns a complete run folder
    return run


def write_results(
    run: RunFolder, task: ClassificationTask, config: TrainConfig, *, best_checkpoint: str, epochs: int
) -> None:
    """Write the model folder, the plots and, last, ``metrics.json`` (the completion marker)."""
    save_model(task.network, run.model_dir, extra={"threshold": THRESHOLD})
    test = task.reports["test"]
    probabilities, targets = task.test_scores  # type: ignore[misc]
    plots = write_plots(run.plots_dir, test, probabilities, targets, metrics_csv=run.metrics_csv)
    atomic_write_json(
        run.metrics_file,
        {
            "run": config.name,
            "backbone": config.model.backbone,
            "bands": list(task.metadata.bands),
            "class_order": task.metadata.class_order,
            **evaluated_entries(task.reports, best_checkpoint=best_checkpoint, monitor=MONITOR, epochs=epochs),
            "plots": [str(path.relative_to(run.path)) for path in plots],
        },
    )


def finished_report(run_path: Path) -> Table:
    """Return the test metrics table of a finished classification run (from its ``metrics.json``)."""
    metrics = json.loads((Path(run_path) / "metrics.json").read_text())
    return report_table(report_from_dict(metrics["test"]), title=f"{metrics['run']}: test")
