r"""``bigearth train`` for the built-in VLM (``task: vlm``): fit, select, generate the test answers, score them.

The run folder is laid out as every supervised run's (:mod:`bigearth.tasks.run`): ``config.yaml``,
``logs/metrics.csv``, ``checkpoints/`` (``last.ckpt`` every epoch, ``best-*.ckpt`` on the validation next-token
accuracy), ``vocab.txt`` (the cut vocabulary, built from the training rows), ``model/``
(:mod:`bigearth.folders.vlm_small`), ``scores/`` (what ``bigearth vlm evaluate RUN/model --split test`` writes:
``predictions.parquet`` with the greedy generations of the test rows in the released forms, which ``bigearth text
evaluate TEXTS scores/predictions.parquet --split test`` scores the same, ``generation.json``, ``metrics.json``,
``scores.csv``, ``scores.png``) and, written last, ``metrics.json``. Running the same command again on an
interrupted run resumes it.
"""

from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812

from bigearth.atomic import atomic_write_json
from bigearth.errors import ConfigError
from bigearth.features import model_transform
from bigearth.folders.format import CLASSIFICATION_TASK, read_model_config
from bigearth.folders.vlm_small import save_small_vlm
from bigearth.models.metadata import ModelMetadata
from bigearth.models.registry import timm_kwargs
from bigearth.models.vlm.tokenizer import VLMTokenizer, build_vocabulary
from bigearth.nomenclature import class_names
from bigearth.tasks.run import RunFolder, prepare_run
from bigearth.tasks.trainer import fit_and_evaluate, supervised_trainer
from bigearth.tasks.vlm.predict import evaluate
from bigearth.tasks.vlm.small.config import SmallVLMTrainConfig, parse_small_vlm_config
from bigearth.tasks.vlm.small.data import VLMDataModule, read_vlm_texts
from bigearth.tasks.vlm.small.generate import SmallVLMGenerator
from bigearth.tasks.vlm.small.module import MONITOR, SmallVLMTask

#: The run folder's report of the test split (``bigearth vlm evaluate``'s files).
SCORES_DIR = "scores"
#: Samples per generation call at the end of a run.
GENERATION_BATCH = 64
#: Bands of an encoder built from a backbone name when the recipe names none.
DEFAULT_BANDS = "s1s2"


def resolve_encoder(config: SmallVLMTrainConfig) -> tuple[dict[str, Any], str | None]:
    """Return the configuration that builds the image encoder and the folder its weights come from (or None).

    ``model.encoder`` is a bigearth model folder (its ``config.json``, weights loaded when training starts) or a
    backbone name (a classifier configuration over ``data.bands``, random weights).

    Raises:
        ConfigError: if ``data.bands`` differ from an encoder folder's bands, or for an unknown backbone.
        CorruptDataError: if the folder is no bigearth model folder.
    """
    model, data = config.model, config.data
    if Path(model.encoder).is_dir():
        encoder = read_model_config(Path(model.encoder))
        bands = ModelMetadata.from_dict(encoder).bands
        if data.bands is not None and ModelMetadata.create("any", data.bands).bands != bands:
            raise ConfigError(
                f"data.bands = {data.bands} but the encoder {model.encoder} reads {list(bands)}; leave data.bands "
                "empty (null) to use the encoder's bands"
            )
        return encoder, model.encoder
    metadata = ModelMetadata.create(model.encoder, data.bands or DEFAULT_BANDS, resample=data.resample,
                                    backbone_args=model.backbone_args)  # fmt: skip
    architecture, model_args = timm_kwargs(model.encoder, in_chans=metadata.in_chans,
                                           num_classes=metadata.num_classes, image_size=metadata.image_size,
                                           backbone_args=model.backbone_args)  # fmt: skip
    return {"task": CLASSIFICATION_TASK, **metadata.to_dict(), "architecture": architecture,
            "model_args": model_args}, None  # fmt: skip


def build_small_vlm(config: SmallVLMTrainConfig, run_path: Path) -> tuple[SmallVLMTask, VLMDataModule]:
    """Return the task and data of a recipe; the vocabulary is cut from the training rows into ``run_path``.

    Raises:
        ConfigError: if the images or texts are not configured, or the texts lack a requested type.
        MissingDataError: if a file is missing or the texts are about patches the data lacks.
    """
    data = config.data
    if not data.path:
        raise ConfigError("no data: pass --data PATH (a store or a release root) or set data.path in the recipe")
    if not data.texts:
        raise ConfigError(
            "no texts: set data.texts=FILE.parquet (from `bigearth text generate --data DATA --out FILE`)"
        )
    texts = read_vlm_texts(Path(data.texts), data.text_types)
    train = texts[texts["split"] == "train"]
    tokenizer = VLMTokenizer.from_entries(
        build_vocabulary([*train["input"], *train["target"]], config.model.vocab and Path(config.model.vocab)), run_path
    )
    encoder, weights = resolve_encoder(config)
    task = SmallVLMTask.from_configs(encoder, config.model, vocab_size=tokenizer.vocab_size,
                                     optimizer=config.optimizer, scheduler=config.scheduler,
                                     encoder_weights=weights)  # fmt: skip
    if config.model.concept_tokens:  # the class names in the order of the batches' labels
        task.network.init_concepts(tokenizer.pieces(class_names(VLMDataModule.class_order)), tokenizer.sep_id)
    datamodule = VLMDataModule(
        data.path, texts, model_transform(task.network.encoder), tokenizer, max_length=config.model.max_length,
        batch_size=data.batch_size, num_workers=data.num_workers, include_snow_cloud=data.include_snow_cloud,
        device_transform=data.device_transform,
    )  # fmt: skip
    return task, datamodule


def train_small_vlm(
    config: SmallVLMTrainConfig, *, out: Path | None = None, callbacks: list[L.Callback] | None = None
) -> RunFolder:
    """Train a built-in VLM recipe and write its run folder, with the arguments of :func:`bigearth.tasks.train.train`.

    Raises:
        ConfigError: for an invalid recipe, a finished run in ``out`` or one of another recipe.
        MissingDataError: if the data or the texts lack what the recipe asks for.
    """
    run, resume = prepare_run(config, out, parse=parse_small_vlm_config)
    L.seed_everything(config.seed_everything, workers=True, verbose=False)
    task, datamodule = build_small_vlm(config, run.path)
    trainer = supervised_trainer(config, run, early_stopping=config.early_stopping, monitor=MONITOR,
                                 label="token_accuracy", callbacks=callbacks)  # fmt: skip
    best = fit_and_evaluate(trainer, task, datamodule, resume_from=run.resume_checkpoint() if resume else None)
    if trainer.is_global_zero:
        write_small_vlm_results(run, task, datamodule, config, best_checkpoint=best, epochs=trainer.current_epoch)
    trainer.strategy.barrier("bigearth-vlm-results")
    return run


def write_small_vlm_results(
    run: RunFolder, task: SmallVLMTask, datamodule: VLMDataModule, config: SmallVLMTrainConfig, *,
    best_checkpoint: str, epochs: int,
) -> None:  # fmt: skip
    """Write the model folder, the test split's generations and their scores (``scores/``), then ``metrics.json``."""
    network = task.network.eval()
    data, texts = Path(datamodule.path), Path(config.data.texts)  # type: ignore[arg-type]
    trained_on = {"path": str(data.resolve()), "texts": str(texts.resolve()), "text_types": config.data.text_types}
    save_small_vlm(network, datamodule.encoder.tokenizer, run.model_dir, encoder_config=task.encoder_config,
                   extra={"trained_on": trained_on})  # fmt: skip
    generator = SmallVLMGenerator(network, datamodule.encoder.tokenizer)
    evaluation, summary = evaluate(generator, data, texts, run.path / SCORES_DIR, split="test",
                                   types=config.data.text_types, batch_size=GENERATION_BATCH,
                                   max_new_tokens=config.model.max_new_tokens)  # fmt: skip
    atomic_write_json(run.metrics_file, {
        "run": config.name,
        "task": "vlm",
        "encoder": config.model.encoder,
        "bands": list(network.encoder.bands),
        "parameters": sum(parameter.numel() for parameter in network.parameters()),
        "encoder_parameters": sum(parameter.numel() for parameter in network.encoder.parameters()),
        "vocab_size": network.vocab_size,
        "best_checkpoint": Path(best_checkpoint).name if best_checkpoint else None,
        "selected_on": f"{MONITOR} (highest)" if best_checkpoint else "last epoch",
        "epochs_trained": epochs,
        "validation": task.reports.get("val"),
        "truncated_sequences": {split: datamodule.dataset(split).truncated
                                for split in ("train", "validation", "test")},
        "test": {"generation": summary.to_json(), **evaluation.to_json()},
    })  # fmt: skip
