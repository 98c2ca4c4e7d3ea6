"""Fine-tuning a local Hugging Face image-text-to-text checkpoint on BigEarthNet.txt (``bigearth vlm finetune``).

Lightning runs the loop (not the transformers ``Trainer``): the run folder, resuming, the CSV log, atomic
checkpoints, SIGTERM handling and the optimiser with warm-up + cosine schedule are bigearth's, as for every other
task (:mod:`bigearth.tasks.run`, :mod:`bigearth.tasks.trainer`, :class:`~bigearth.tasks.module.TaskModule`).
LoRA comes from peft (``model.lora: true``, the default; ``false`` fine-tunes every weight; on CUDA the frozen
weights are held in bf16, the adapters and fully fine-tuned weights in float32); its checkpoints keep
the trainable weights only (the adapters: megabytes for a 7 B model), and a resumed run loads the base checkpoint
again and then them. Precision: the recipe's ``trainer.precision``, else ``bf16-mixed`` where CUDA exists and
``32-true`` on CPU.

Every text type of ``data.types`` is trained at once: one sample per row of the ``train`` split (the first
``data.limit`` rows where set); the validation loss on the first ``data.val_limit`` validation rows is logged each
``trainer.val_check_interval``. When the run ends, the LoRA weights are merged into the model and the run folder's
``model/`` is written: an ordinary checkpoint folder (``save_pretrained``) that ``bigearth vlm predict/evaluate``
and transformers read, with ``bigearth_vlm.json`` (:func:`~bigearth.folders.vlm.save_finetuned`).

It is the task ``vlm-hf`` of ``bigearth train``'s registry: ``bigearth train configs/vlm/hf-lora.yaml --data STORE
model.checkpoint=CKPT data.texts=TEXTS`` runs the same as ``bigearth vlm finetune``, which names the checkpoint
and the texts as options. Its model folder is a Hugging Face checkpoint whose ``bigearth_vlm.json`` records the
folder task :data:`~bigearth.folders.format.VLM_HF_TASK`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor
from torch.utils.data import DataLoader

from bigearth._optional import require
from bigearth.atomic import atomic_write_json
from bigearth.errors import ConfigError
from bigearth.folders.format import VLM_HF_TASK
from bigearth.folders.vlm import check_hf_checkpoint, load_hf_checkpoint, save_finetuned
from bigearth.tasks.config import OptimizerConfig, Recipe, SchedulerConfig, parse_recipe, recipe_loader
from bigearth.tasks.module import Split, TaskModule
from bigearth.tasks.run import RunFolder, prepare_run
from bigearth.tasks.trainer import StopOnNonFinite, build_trainer
from bigearth.tasks.vlm.hf import TrainingCollate
from bigearth.tasks.vlm.predict import split_texts
from bigearth.text.instruct import BOX_STYLES, TRUE_COLOUR_BANDS, InstructDataset, PatchImages
from bigearth.text.schema import TEXT_TYPES

#: The recipes' ``task`` value.
TASK = "vlm-hf"


@dataclass
class FinetuneModelConfig:
    """The checkpoint and how it is fine-tuned.

    Attributes:
        checkpoint: the local checkpoint folder (``--model``).
        lora: train LoRA adapters (peft) instead of every weight.
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling numerator (the update is scaled by alpha / r).
        lora_dropout: dropout on the LoRA input.
        lora_targets: peft ``target_modules``: ``all-linear`` (every linear layer but the output head) or a list
            of module names.
        box_style: how box targets are written (:data:`~bigearth.text.instruct.BOX_STYLES`).
        lr: peak learning rate.
        checkpoint_every: optimisation steps between writes of ``last.ckpt`` (also written at each epoch's end).
    """

    checkpoint: str | None = None
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str | list = "all-linear"
    box_style: str = "tags"
    lr: float = 1e-4
    checkpoint_every: int = 100


@dataclass
class FinetuneDataConfig:
    """The texts and images.

    Attributes:
        path: store folder or release root (``--data``).
        texts: BigEarthNet.txt parquet file (``--texts``).
        types: text types trained.
        batch_size: samples per step (before ``trainer.accumulate_grad_batches``).
        num_workers: DataLoader worker processes.
        limit: train on the first ``limit`` training rows only (None: all).
        val_limit: validation rows whose loss is logged (0: no validation).
    """

    path: str | None = None
    texts: str | None = None
    types: list = field(default_factory=lambda: list(TEXT_TYPES))
    batch_size: int = 4
    num_workers: int = 0
    limit: int | None = None
    val_limit: int = 256


@dataclass
class FinetuneRecipe(Recipe):
    """A fine-tuning recipe (``configs/vlm/hf-*.yaml``)."""

    task: str = TASK
    model: FinetuneModelConfig = field(default_factory=FinetuneModelConfig)
    data: FinetuneDataConfig = field(default_factory=FinetuneDataConfig)
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(weight_decay=0.0))
    scheduler: SchedulerConfig = field(default_factory=lambda: SchedulerConfig(warmup_steps=20))


def parse_finetune_recipe(raw: Any, *, name: str = "vlm-hf") -> FinetuneRecipe:
    """Build a :class:`FinetuneRecipe` from plain data.

    Raises:
        ConfigError: for unknown keys, wrong types, an unknown box style or text type.
    """
    recipe = parse_recipe(raw, FinetuneRecipe, kind="VLM fine-tuning recipe", name=name, task=TASK)
    if recipe.model.box_style not in BOX_STYLES:
        raise ConfigError(f"model.box_style = {recipe.model.box_style!r}; use one of {list(BOX_STYLES)}")
    unknown = [t for t in recipe.data.types if t not in TEXT_TYPES]
    if unknown or not recipe.data.types:
        raise ConfigError(f"data.types = {recipe.data.types!r}; use some of {list(TEXT_TYPES)}")
    return recipe


#: Read a fine-tuning recipe (``configs/vlm/hf-*.yaml``) with dotted overrides.
load_finetune_recipe = recipe_loader(parse_finetune_recipe, "configs/vlm/")


class FinetuneModule(TaskModule):
    """The language-model loss of an image-text-to-text model on instruction samples.

    Checkpoints hold the trainable weights only (:meth:`on_save_checkpoint`); loading them leaves the frozen base
    weights as loaded from the checkpoint folder.
    """

    strict_loading = False

    def __init__(self, network: torch.nn.Module, recipe: FinetuneRecipe) -> None:
        super().__init__()
        self.network = network.train()  # from_pretrained returns it in evaluation mode
        self.lr = recipe.model.lr
        self.optimizer_config, self.scheduler_config = recipe.optimizer, recipe.scheduler

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Return the mean cross-entropy of the target tokens."""
        loss = self.network(**batch).loss
        self.log_loss(loss, split, int(batch["input_ids"].shape[0]))
        return loss

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep only the trainable weights in the checkpoint."""
        trainable = {f"network.{name}" for name, p in self.network.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}


def trainable_network(model: torch.nn.Module, config: FinetuneModelConfig) -> torch.nn.Module:
    """Return the model with LoRA adapters (only they train), or the model itself (everything trains)."""
    if not config.lora:
        return model
    peft = require("peft", extra="vlm")
    lora = peft.LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                           target_modules=config.lora_targets)  # fmt: skip
    return peft.get_peft_model(model, lora)


def _loader(
    dataset: InstructDataset, data: FinetuneDataConfig, collate: TrainingCollate, *, shuffle: bool
) -> DataLoader:
    """Return a loader of model inputs (the processor runs in the workers)."""
    workers = data.num_workers
    return DataLoader(dataset, batch_size=data.batch_size, shuffle=shuffle, num_workers=workers, collate_fn=collate,
                      persistent_workers=workers > 0, multiprocessing_context="spawn" if workers else None)  # fmt: skip


def finetune(recipe: FinetuneRecipe, *, out: Path | None = None) -> RunFolder:
    """Fine-tune ``recipe.model.checkpoint`` on the texts; resume an interrupted run in ``out``.

    Returns:
        The run folder (``model/`` the fine-tuned checkpoint, ``metrics.json`` the last losses).

    Raises:
        ConfigError: for a missing checkpoint, data or texts entry, or a finished run in ``out``.
        MissingDataError, CorruptDataError, MetadataError: a folder that is no image-text-to-text checkpoint, a
            texts file without the types needed, patches missing from the data.
    """
    needed = {"model.checkpoint (--model)": recipe.model.checkpoint, "data.path (--data)": recipe.data.path,
              "data.texts (--texts)": recipe.data.texts}  # fmt: skip
    for key, value in needed.items():
        if not value:
            raise ConfigError(f"{key} is not set; give it on the command line or in the recipe")
    checkpoint = Path(str(recipe.model.checkpoint))
    check_hf_checkpoint(checkpoint)
    texts = Path(str(recipe.data.texts))
    _, train_samples = split_texts(texts, "train", types=recipe.data.types, limit=recipe.data.limit)
    images = PatchImages(str(recipe.data.path), TRUE_COLOUR_BANDS, normalise=False)
    train_set = InstructDataset(train_samples, images)
    val_set = None
    if recipe.data.val_limit > 0:
        _, val_samples = split_texts(texts, "validation", limit=recipe.data.val_limit)
        val_set = InstructDataset(val_samples, images)
    run, resume = prepare_run(recipe, out, parse=parse_finetune_recipe)
    L.seed_everything(recipe.seed_everything, workers=True, verbose=False)
    cuda = torch.cuda.is_available()
    # LoRA on CUDA: frozen bf16 weights, float32 adapters (peft's default); full fine-tuning: float32 weights
    model, processor = load_hf_checkpoint(checkpoint, dtype=torch.bfloat16 if cuda and recipe.model.lora else None)
    module = FinetuneModule(trainable_network(model, recipe.model), recipe)
    collate = TrainingCollate(processor, recipe.model.box_style)
    loader = _loader(train_set, recipe.data, collate, shuffle=True)
    val_loader = None if val_set is None else _loader(val_set, recipe.data, collate, shuffle=False)
    last = ModelCheckpoint(dirpath=run.checkpoints_dir, filename=run.last_checkpoint.stem, save_top_k=1,
                           every_n_train_steps=recipe.model.checkpoint_every)  # fmt: skip
    defaults = {"precision": "bf16-mixed" if cuda else "32-true", "num_sanity_val_steps": 0,
                **({} if val_set else {"limit_val_batches": 0})}  # fmt: skip
    trainer = build_trainer(recipe, run, callbacks=[last, StopOnNonFinite()], defaults=defaults)
    trainer.fit(module, loader, val_loader, ckpt_path=run.resume_checkpoint() if resume else None)
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    network = module.network.merge_and_unload() if recipe.model.lora else module.network
    info = {"task": VLM_HF_TASK, "base": str(checkpoint), "texts": str(texts), "types": list(recipe.data.types),
            "box_style": recipe.model.box_style, "lora": recipe.model.lora, "steps": trainer.global_step,
            "train_rows": len(train_samples)}  # fmt: skip
    save_finetuned(network, processor, run.model_dir, info)
    atomic_write_json(run.metrics_file, {**metrics, **info})
    return run
