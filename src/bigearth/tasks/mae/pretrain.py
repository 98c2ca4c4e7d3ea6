r"""``bigearth pretrain`` for CSMAE/CSMoE recipes (``task: csmae``): pretrain, save the model, probe it.

The run folder is laid out as a classification run's (:mod:`bigearth.tasks.run`): ``config.yaml``,
``logs/metrics.csv``, ``checkpoints/last.ckpt`` (every epoch; an interrupted run resumes from it when the same
command runs again), ``model/`` (``config.json`` + ``model.safetensors`` of the final weights,
:mod:`bigearth.folders.foundation`), ``plots/pretraining_curves.png`` and, written last, ``metrics.json`` (final
losses and, with ``evaluation.linear_probe``, the linear probe's validation and test metrics).

Scale as for ``bigearth train``: the ``trainer`` section goes to ``lightning.Trainer`` as it is
(``trainer.devices=4 trainer.strategy=ddp``; torchrun and SLURM need ``--out``); the contrastive term gathers
features across processes.
"""

import warnings
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import pandas as pd
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from matplotlib.figure import Figure

from bigearth.atomic import atomic_write_json
from bigearth.data.datamodule import ReBENDataModule
from bigearth.evaluation.plots import save_figure
from bigearth.folders.foundation import save_foundation_model
from bigearth.models.encoders import FoundationEncoder
from bigearth.models.metadata import ModelMetadata
from bigearth.sampling.ids import read_ids
from bigearth.tasks.determinism import EpochSeed
from bigearth.tasks.mae.config import PretrainConfig, parse_pretrain_config
from bigearth.tasks.mae.module import CrossSensorPretrainingTask
from bigearth.tasks.mae.probe import linear_probe
from bigearth.tasks.run import RunFolder, prepare_run
from bigearth.tasks.train import build_datamodule, describe_data
from bigearth.tasks.trainer import build_trainer

LOSS_COLUMNS = ("loss", "same_sensor", "cross_sensor", "contrastive")


def build_pretraining_data(config: PretrainConfig) -> ReBENDataModule:
    """Return the recipe's data module, its training split restricted to ``data.ids`` when set.

    Raises:
        ConfigError: if no data path is configured.
        MissingDataError: if the ids file is missing or names patches outside the training split.
    """
    datamodule = build_datamodule(config.data)
    if config.data.ids:
        datamodule.dataset("train").restrict(read_ids(config.data.ids))
    return datamodule


def pretrain(
    config: PretrainConfig, *, out: Path | None = None, callbacks: list[L.Callback] | None = None
) -> RunFolder:
    """Pretrain a recipe and write its run folder.

    Args:
        config: the resolved recipe.
        out: run folder; ``runs/<name>-<timestamp>`` when None. An interrupted run there is resumed.
        callbacks: extra Lightning callbacks.

    Raises:
        ConfigError: for an invalid recipe, a finished run in ``out`` or one of another recipe.
        MissingDataError: if the data lacks what the recipe asks for.
    """
    run, resume = prepare_run(config, out, parse=parse_pretrain_config)
    L.seed_everything(config.seed_everything, workers=True, verbose=False)
    datamodule = build_pretraining_data(config)
    metadata = ModelMetadata.create(
        config.model.model_type, datamodule.bands, class_order=config.data.class_order,  # type: ignore[arg-type]
        image_size=config.model.image_size, stats=datamodule.stats, resample=config.data.resample,
        trained_on={**describe_data(datamodule), "ids": config.data.ids},
    )  # fmt: skip
    task = CrossSensorPretrainingTask.from_configs(config.model, metadata, config.optimizer, config.scheduler,
                                                   config.slimmable)  # fmt: skip
    last = ModelCheckpoint(dirpath=run.checkpoints_dir, filename=run.last_checkpoint.stem, save_top_k=1)
    trainer = build_trainer(
        config,
        run,
        callbacks=[last, EpochSeed(config.seed_everything), LearningRateMonitor("step"), *(callbacks or [])],
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Experiment logs directory.*exists")
        trainer.fit(task, datamodule=datamodule, ckpt_path=run.resume_checkpoint() if resume else None)
    if trainer.is_global_zero:
        write_results(run, task, config, datamodule, epochs=trainer.current_epoch, logged=trainer.callback_metrics)
    return run


def write_results(
    run: RunFolder, task: CrossSensorPretrainingTask, config: PretrainConfig, datamodule: ReBENDataModule, *,
    epochs: int, logged: dict[str, Any],
) -> None:  # fmt: skip
    """Write the model folder, the curves, the probe's metrics and, last, ``metrics.json``."""
    network = task.network.cpu().eval()
    save_foundation_model(network, run.model_dir)
    plots = []
    if run.metrics_csv.is_file():
        plots.append(save_figure(plot_pretraining_curves(run.metrics_csv), run.plots_dir / "pretraining_curves.png"))
    probe = None
    if config.evaluation.linear_probe:
        result = linear_probe(FoundationEncoder(network), datamodule.path, steps=config.evaluation.probe_steps,
                              batch_size=config.evaluation.batch_size, seed=config.seed_everything)  # fmt: skip
        probe = result.to_dict()
    atomic_write_json(run.metrics_file, {
        "run": config.name,
        "model_type": config.model.model_type,
        "variant": config.model.variant,
        "epochs_trained": epochs,
        "final": {key: round(float(value), 6) for key, value in logged.items() if key.split("/")[-1].split("_epoch")[0]
                  in LOSS_COLUMNS},
        "linear_probe": probe,
        "plots": [str(path.relative_to(run.path)) for path in plots],
    })  # fmt: skip


def plot_pretraining_curves(metrics_csv: Path) -> Figure:
    """Plot the epoch means of the loss and of each term, training and validation, from a CSVLogger file."""
    frame = pd.read_csv(metrics_csv)
    figure = Figure(figsize=(12, 4), layout="constrained")
    axes = figure.subplots(1, len(LOSS_COLUMNS))
    for ax, term in zip(axes, LOSS_COLUMNS, strict=True):
        for split, column in (("train", f"train/{term}_epoch" if term == "loss" else f"train/{term}"),
                              ("validation", f"val/{term}")):  # fmt: skip
            if column in frame.columns and "epoch" in frame.columns:
                values = frame.dropna(subset=[column]).groupby("epoch")[column].last()
                ax.plot(values.index + 1, values.to_numpy(), marker="o", label=split)
        ax.set(title=term.replace("_", " "), xlabel="epoch")
        ax.legend()
    figure.suptitle("CSMAE pretraining objective")
    return figure
