r"""``bigearth train`` for VQA recipes (``task: vqa``): fit, select the best checkpoint, test it, write the run folder.

The run folder is laid out as a classification run's (:mod:`bigearth.tasks.run`): ``config.yaml``,
``logs/metrics.csv``, ``checkpoints/`` (``last.ckpt`` every epoch, ``best-*.ckpt`` on the validation average
accuracy), ``model/`` (``config.json`` + ``model.safetensors`` + ``vocab.txt`` + ``answers.json`` of the best
checkpoint, :mod:`bigearth.folders.vqa`), ``plots/*.png`` and, written last, ``metrics.json`` (validation and
test reports of the best checkpoint). Running the same command again on an interrupted run resumes it.

Scale as for classification: the ``trainer`` section goes to ``lightning.Trainer`` as it is
(``trainer.devices=4 trainer.strategy=ddp``; torchrun and SLURM need ``--out``); ``data.batch_size`` is per
process; evaluation gathers the answers of all processes and counts each question once.
"""

from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812

from bigearth.atomic import atomic_write_json
from bigearth.errors import ConfigError
from bigearth.folders.vqa import save_vqa_model
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.model import build_tokenizer, check_tokenizer
from bigearth.tasks.run import RunFolder, prepare_run
from bigearth.tasks.trainer import evaluated_entries, fit_and_evaluate, supervised_trainer
from bigearth.tasks.vqa.config import VQATrainConfig, parse_vqa_config
from bigearth.tasks.vqa.data import VQADataModule
from bigearth.tasks.vqa.module import MONITOR, VQATask
from bigearth.tasks.vqa.plots import write_vqa_plots


def build_vqa_data(config: VQATrainConfig) -> VQADataModule:
    """Return the recipe's data module (its tokenizer is the model's; answers come from the training questions).

    Raises:
        ConfigError: if the images or the questions are not configured, or a split has no question.
        MissingDataError: if a file is missing or the questions ask about patches the data lacks.
    """
    data = config.data
    if not data.path:
        raise ConfigError("no data: pass --data PATH (a store or a release root) or set data.path in the recipe")
    if not data.questions:
        raise ConfigError(
            "no questions: set data.questions=FILE.parquet (from `bigearth text rsvqa --data DATA --out FILE` or "
            "`bigearth text generate`)"
        )
    datamodule = VQADataModule(
        data.path, data.questions, data.bands, tokenizer=build_tokenizer(config.model),
        num_answers=config.model.num_answers, text_types=data.text_types, batch_size=data.batch_size,
        num_workers=data.num_workers, group_by_image=data.group_by_image, resample=data.resample,
        include_snow_cloud=data.include_snow_cloud, device_transform=data.device_transform, augment=data.augment,
        read_images=not config.model.question_only,
    )  # fmt: skip
    counts = datamodule.questions.frame["split"].value_counts()
    empty = [split for split in ("train", "validation") if not counts.get(split, 0)]
    if empty:
        raise ConfigError(f"{data.questions} has no {empty} questions; VQA training needs both splits")
    return datamodule


def describe_vqa_data(datamodule: VQADataModule, config: VQATrainConfig) -> dict[str, Any]:
    """Describe the training data for a model's ``trained_on`` record (images, questions, counts)."""
    frame = datamodule.questions.frame
    return {
        "path": str(datamodule.path.resolve()),
        "questions": str(datamodule.questions.path.resolve()),
        "question_kind": datamodule.questions.kind,
        "text_types": list(config.data.text_types) if datamodule.questions.kind != "rsvqa" else None,
        "questions_per_split": {str(k): int(v) for k, v in frame["split"].value_counts().items()},
        "answer_coverage_train": datamodule.answers.coverage(datamodule.questions.split("train")["answer"].tolist()),
        "include_snow_cloud": config.data.include_snow_cloud,
    }


def build_vqa_task(config: VQATrainConfig, datamodule: VQADataModule) -> VQATask:
    """Return the task of a recipe; bands, statistics, answers, types and categories come from the data module.

    Raises:
        ConfigError: for unknown encoders, arguments timm rejects, or a tokenizer the text encoder cannot embed.
    """
    metadata = ModelMetadata.create(
        config.model.image_encoder, datamodule.bands, stats=datamodule.stats, resample=config.data.resample,
        backbone_args=config.model.image_backbone_args, trained_on=describe_vqa_data(datamodule, config),
    )  # fmt: skip
    task = VQATask.from_configs(
        metadata, config.model, answers=datamodule.answers.answers, types=datamodule.types,
        categories=datamodule.categories, optimizer=config.optimizer, scheduler=config.scheduler,
        answer_frequencies=datamodule.answers.frequencies(len(datamodule.questions.split("train")))
        if datamodule.answers.counts else None,
    )  # fmt: skip
    check_tokenizer(task.network, datamodule.tokenizer)
    return task


def train_vqa(
    config: VQATrainConfig,
    *,
    out: Path | None = None,
    datamodule: VQADataModule | None = None,
    callbacks: list[L.Callback] | None = None,
) -> RunFolder:
    """Train a VQA recipe and write its run folder, with the arguments of :func:`bigearth.tasks.train.train`.

    Raises:
        ConfigError: for an invalid recipe, a finished run in ``out`` or one of another recipe.
        MissingDataError: if the data or the questions lack what the recipe asks for.
    """
    run, resume = prepare_run(config, out, parse=parse_vqa_config)
    L.seed_everything(config.seed_everything, workers=True, verbose=False)
    datamodule = datamodule if datamodule is not None else build_vqa_data(config)
    task = build_vqa_task(config, datamodule)
    trainer = supervised_trainer(config, run, early_stopping=config.early_stopping, monitor=MONITOR, label="aa",
                                 callbacks=callbacks)  # fmt: skip
    best = fit_and_evaluate(trainer, task, datamodule, resume_from=run.resume_checkpoint() if resume else None)
    if trainer.is_global_zero:
        write_vqa_results(run, task, datamodule, config, best_checkpoint=best, epochs=trainer.current_epoch)
    trainer.strategy.barrier("bigearth-vqa-results")
    return run


def write_vqa_results(
    run: RunFolder, task: VQATask, datamodule: VQADataModule, config: VQATrainConfig, *, best_checkpoint: str,
    epochs: int,
) -> None:  # fmt: skip
    """Write the model folder, the plots and, last, ``metrics.json`` (the completion marker)."""
    network = task.network.cpu().eval()
    save_vqa_model(network, datamodule.tokenizer, run.model_dir, answers=datamodule.answers)
    test = task.reports["test"]
    plots = write_vqa_plots(run.plots_dir, test, metrics_csv=run.metrics_csv)
    test_answers = datamodule.questions.split("test")["answer"].tolist()
    atomic_write_json(run.metrics_file, {
        "run": config.name,
        "task": "vqa",
        "image_encoder": config.model.image_encoder,
        "text_encoder": config.model.text_encoder,
        "fusion": config.model.fusion,
        "bands": list(task.metadata.bands),
        "parameters": sum(parameter.numel() for parameter in network.parameters()),
        "answers": len(datamodule.answers),
        "test_answer_coverage": datamodule.answers.coverage(test_answers),
        "truncated_questions": {split: datamodule.dataset(split).truncated
                                for split in ("train", "validation", "test")},
        **evaluated_entries(task.reports, best_checkpoint=best_checkpoint, monitor=MONITOR, epochs=epochs),
        "plots": [str(path.relative_to(run.path)) for path in plots],
    })  # fmt: skip
