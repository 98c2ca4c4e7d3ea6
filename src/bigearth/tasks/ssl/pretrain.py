r"""``bigearth pretrain`` for self-supervised recipes (``task: ssl``): pretrain, save the encoder, probe it.

The run folder is laid out as a classification run's (:mod:`bigearth.tasks.run`): ``config.yaml``,
``logs/metrics.csv``, ``checkpoints/last.ckpt`` (every epoch; an interrupted run resumes from it when the same
command runs again), ``model/`` (``config.json`` + ``model.safetensors``: the pretrained backbone as a bigearth
scene classifier whose head is untrained; ``config.json`` has an ``ssl`` entry naming the method and regulariser
and a ``head`` note), ``plots/pretraining_curves.png`` and, written last, ``metrics.json`` (final loss terms and the
test metrics of the kNN and linear probes).

Use the encoder: ``bigearth ssl probe RUN --data STORE --protocol knn|linear``; fine-tune it with any
classification recipe and ``model.weights=RUN/model`` (or ``bigearth ssl table RUN... --finetune RECIPE``).

Scale as for ``bigearth train``: the ``trainer`` section goes to ``lightning.Trainer`` as it is
(``trainer.devices=4 trainer.strategy=ddp``; torchrun and SLURM need ``--out``). ``data.batch_size`` is per
process; GeoRank ranks within each process's batch; set ``model.method_args.gather_distributed=true`` for
SimCLR/MoCo negatives from all processes.
"""

import warnings
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import pandas as pd
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from matplotlib.figure import Figure

from bigearth.atomic import atomic_write_json
from bigearth.evaluation.plots import save_figure
from bigearth.folders.classifier import save_model
from bigearth.models.encoders import BackboneEncoder
from bigearth.models.metadata import ModelMetadata
from bigearth.ssl.location_clusters import fit_location_clusters
from bigearth.tasks.determinism import EpochSeed
from bigearth.tasks.run import RunFolder, prepare_run
from bigearth.tasks.ssl.config import SSLConfig, parse_ssl_config
from bigearth.tasks.ssl.data import PretrainingDataModule, build_pretraining_datamodule
from bigearth.tasks.ssl.evaluate import probe_encoder
from bigearth.tasks.ssl.module import SSLPretrainingTask
from bigearth.tasks.train import describe_data
from bigearth.tasks.trainer import build_trainer

#: What ``config.json`` of a pretrained encoder says of its classifier head (the key ``ssl`` marks such a folder).
HEAD_NOTE = "untrained: probe the backbone's features (kNN or linear) or fine-tune it with model.weights"
TERMS = ("loss", "ssl", "georank", "location", "slim")


def build_task(config: SSLConfig, datamodule: PretrainingDataModule) -> SSLPretrainingTask:
    """Return the task of a recipe: metadata from the data (bands, statistics), clusters from its training split.

    Raises:
        ConfigError: for an unknown backbone or method argument.
        ValueError: if location clusters are on and the training split has fewer patches than clusters.
    """
    train = datamodule.dataset("train")
    metadata = ModelMetadata.create(
        config.model.backbone, datamodule.bands, class_order=config.data.class_order,  # type: ignore[arg-type]
        image_size=config.model.image_size, stats=datamodule.stats, resample=config.data.resample,
        backbone_args=config.model.backbone_args, trained_on=describe_data(datamodule),
    )  # fmt: skip
    centres = None
    if config.location_clusters.enabled:
        clusters = config.location_clusters
        centres = fit_location_clusters(torch.from_numpy(train.index.lat), torch.from_numpy(train.index.lon),
                                        clusters=clusters.clusters, seed=clusters.seed)  # fmt: skip
    return SSLPretrainingTask.from_config(config, metadata, centres=centres)


def pretrain(config: SSLConfig, *, out: Path | None = None, callbacks: list[L.Callback] | None = None) -> RunFolder:
    """Pretrain a recipe and write its run folder.

    Args:
        config: the resolved recipe.
        out: run folder; ``runs/<name>-<timestamp>`` when None. An interrupted run there is resumed.
        callbacks: extra Lightning callbacks.

    Raises:
        ConfigError: for an invalid recipe, a finished run in ``out``, one of another recipe, or a training split
            smaller than one batch.
        MissingDataError: if the data lacks what the recipe asks for.
    """
    run, resume = prepare_run(config, out, parse=parse_ssl_config)
    L.seed_everything(config.seed_everything, workers=True, verbose=False)
    datamodule = build_pretraining_datamodule(config.data, config.temporal)
    task = build_task(config, datamodule)
    last = ModelCheckpoint(dirpath=run.checkpoints_dir, filename=run.last_checkpoint.stem, save_top_k=1)
    trainer = build_trainer(
        config, run, defaults={"limit_val_batches": 0, "num_sanity_val_steps": 0},
        callbacks=[last, EpochSeed(config.seed_everything), LearningRateMonitor("step"), *(callbacks or [])],
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Experiment logs directory.*exists")
        warnings.filterwarnings("ignore", message=".*weight_norm.*", category=FutureWarning)
        trainer.fit(task, datamodule=datamodule, ckpt_path=run.resume_checkpoint() if resume else None)
    if trainer.is_global_zero:
        write_results(run, task, config, datamodule, epochs=trainer.current_epoch, logged=trainer.callback_metrics)
    trainer.strategy.barrier("bigearth-ssl-results")
    return run


def write_results(
    run: RunFolder, task: SSLPretrainingTask, config: SSLConfig, datamodule: PretrainingDataModule, *,
    epochs: int, logged: dict[str, Any],
) -> None:  # fmt: skip
    """Write the model folder, the curves, the probes' metrics and, last, ``metrics.json``."""
    classifier = task.classifier.cpu().eval()
    description = {"method": config.model.method, "regulariser": config.regulariser, "epochs": epochs,
                   "georank": vars(config.georank) if config.georank.enabled else None,
                   "location_clusters": vars(config.location_clusters) if config.location_clusters.enabled else None,
                   "slimmable": vars(config.slimmable) if config.slimmable.enabled else None,
                   "temporal": vars(config.temporal) if config.temporal.enabled else None,
                   "train_patches": len(datamodule.training_source()), "augment": config.augment}  # fmt: skip
    save_model(classifier, run.model_dir, extra={
        "ssl": description, "head": HEAD_NOTE,
    })  # fmt: skip
    plots = []
    if run.metrics_csv.is_file():
        plots.append(save_figure(plot_pretraining_curves(run.metrics_csv), run.plots_dir / "pretraining_curves.png"))
    evaluation, probes = config.evaluation, {}
    encoder = BackboneEncoder(classifier)
    settings = {"k": evaluation.k, "temperature": evaluation.knn_temperature, "probe_steps": evaluation.probe_steps,
                "batch_size": evaluation.batch_size, "seed": config.seed_everything}  # fmt: skip
    protocols = [name for name, wanted in (("knn", evaluation.knn), ("linear", evaluation.linear_probe)) if wanted]
    if protocols:
        probes = probe_encoder(encoder, datamodule.path, protocols=protocols, **settings)
    atomic_write_json(run.metrics_file, {
        "run": config.name,
        **description,
        "final": {key.removeprefix("train/").removesuffix("_epoch"): round(float(value), 6)
                  for key, value in logged.items() if key.removeprefix("train/").removesuffix("_epoch") in TERMS
                  and not key.endswith("_step")},
        "knn": probes.get("knn"),
        "linear_probe": probes.get("linear"),
        "plots": [str(path.relative_to(run.path)) for path in plots],
    })  # fmt: skip


def plot_pretraining_curves(metrics_csv: Path) -> Figure:
    """Plot the epoch means of the loss and its terms from a CSVLogger file."""
    frame = pd.read_csv(metrics_csv)
    columns = [(term, f"train/{term}_epoch" if term == "loss" else f"train/{term}") for term in TERMS]
    columns = [(term, column) for term, column in columns if column in frame.columns]
    figure = Figure(figsize=(4 * max(1, len(columns)), 3.5), layout="constrained")
    axes = figure.subplots(1, max(1, len(columns)), squeeze=False)[0]
    for ax, (term, column) in zip(axes, columns, strict=False):
        values = frame.dropna(subset=[column]).groupby("epoch")[column].last()
        ax.plot(values.index + 1, values.to_numpy(), marker="o")
        ax.set(title=term, xlabel="epoch")
    figure.suptitle("self-supervised pretraining objective")
    return figure
