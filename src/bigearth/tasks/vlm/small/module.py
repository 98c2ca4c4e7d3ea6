"""The built-in VLM as a ``LightningModule``: next-token cross-entropy on the targets of all four text types.

Each text counts once whatever its length: the cross-entropy is averaged over a text's target tokens (its
closing ``[SEP]`` included), then over the texts of the batch, so that a one-word yes/no answer weighs as much
as a 40-token caption (a mean over all tokens would let the captions dominate). Train, validation and test share
one step; the validation next-token accuracy on target tokens (teacher forcing) selects the best checkpoint.

With concept tokens (``model.concept_tokens``), the patch's class logits (the maximum of the per-cell concept
logits) also learn the patch labels: ``concept_loss_weight`` times their binary cross-entropy is added to the
loss, so each concept token carries its class's presence from the start instead of waiting for the texts to teach
it (logged as ``{split}/concept_loss``).

Logged keys: ``train/loss`` (per step and epoch), ``{val,test}/loss`` and ``{val,test}/token_accuracy`` (per epoch;
counted over the target tokens of a process: with several processes, each process's own).
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from bigearth.folders.encoders import encoder_from_config, load_encoder
from bigearth.models.vlm.model import SmallVLM
from bigearth.tasks.config import OptimizerConfig, SchedulerConfig
from bigearth.tasks.module import Split, TaskModule
from bigearth.tasks.vlm.small.config import SmallVLMModelConfig

#: The metric that early stopping and checkpoint selection maximise.
MONITOR = "val/token_accuracy"
#: Rows decoded together (sorted by length, each chunk cut to its longest row).
CHUNK = 32


def text_losses(logits: Tensor, targets: Tensor, rows: Tensor, texts: int) -> Tensor:
    """Return the mean cross-entropy ``(texts,)`` of each text over its target tokens.

    Args:
        logits: ``(T, V)`` logits of the T target tokens of the batch.
        targets: ``(T,)`` int64 target ids.
        rows: ``(T,)`` int64, the text each token belongs to.
        texts: number of texts in the batch (a text without targets gets 0).
    """
    losses = F.cross_entropy(logits.float(), targets, reduction="none")
    sums = torch.zeros(texts, device=logits.device).index_add_(0, rows, losses)
    counts = torch.zeros(texts, device=logits.device).index_add_(0, rows, torch.ones_like(losses))
    return sums / counts.clamp(min=1)


class SmallVLMTask(TaskModule):
    """Train a :class:`~bigearth.models.vlm.model.SmallVLM` on BigEarthNet.txt sequences.

    The constructor takes plain data, so that checkpoints rebuild the task from their hyper-parameters.

    Args:
        encoder: the ``config.json`` entries that rebuild the image encoder (``encoder_from_config``).
        model: :class:`~bigearth.tasks.vlm.small.config.SmallVLMModelConfig` fields.
        vocab_size: entries of the tokenizer's vocabulary.
        optimizer: :class:`~bigearth.tasks.config.OptimizerConfig` fields.
        scheduler: :class:`~bigearth.tasks.config.SchedulerConfig` fields.
        encoder_weights: a model folder whose encoder weights are loaded when a fresh run starts, or None.

    Batches are :class:`~bigearth.tasks.vlm.small.data.VLMDataset` batches.
    """

    def __init__(
        self,
        encoder: dict[str, Any],
        model: dict[str, Any],
        vocab_size: int,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        encoder_weights: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder_config, self.encoder_weights = encoder, encoder_weights
        self.model_config = SmallVLMModelConfig(**model)
        self.lr = self.model_config.lr
        self.optimizer_config = OptimizerConfig(**(optimizer or {}))
        self.scheduler_config = SchedulerConfig(**(scheduler or {}))
        self.network = SmallVLM(self.model_config.network(), encoder_from_config(encoder), vocab_size)
        if self.model_config.freeze_encoder:
            self.network.encoder.requires_grad_(False)
        self._weights_loaded = False
        self._cells: dict[str, Tensor] = {}
        self._totals: dict[str, list[int]] = {}
        #: The last next-token accuracy of each evaluated split (``token_accuracy``, ``target_tokens``).
        self.reports: dict[str, dict[str, float]] = {}

    def train(self, mode: bool = True) -> "SmallVLMTask":
        """Set training mode (a frozen encoder stays in evaluation mode: fixed batch-norm statistics)."""
        super().train(mode)
        if mode and self.model_config.freeze_encoder:
            self.network.encoder.eval()
        return self

    def configure_model(self) -> None:
        """Load the encoder folder's weights when a fresh training run starts (not on resume or evaluation)."""
        if self.encoder_weights and self.fresh_fit and not self._weights_loaded:
            self.network.encoder.load_state_dict(load_encoder(Path(self.encoder_weights)).state_dict())
            self._weights_loaded = True

    def image_cells(self, batch: dict[str, Any]) -> Tensor:
        """Return the pooled encoder cells ``(P, grid^2, feature_dim)`` of a batch's images.

        A frozen encoder is deterministic (evaluation mode, no gradients), so its pooled cells are computed once per
        patch and kept (by patch name, on the device, for the life of the task): later epochs skip the encoder.
        """
        if not self.model_config.freeze_encoder:
            return self.network.image_cells(batch["image"])
        names = batch["patch_id"]
        new = [i for i, name in enumerate(names) if name not in self._cells]
        if new:
            with torch.no_grad():
                cells = self.network.image_cells(batch["image"][new])
            self._cells.update({names[i]: cell for i, cell in zip(new, cells, strict=True)})
        return torch.stack([self._cells[name] for name in names])

    def concept_loss(self, cells: Tensor, labels: Tensor, split: Split) -> Tensor:
        """Return and log the binary cross-entropy of the patches' class logits ``(P, classes)`` against labels."""
        logits = self.network.concept_logits(cells).amax(dim=1)
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        self.log(f"{split}/concept_loss", loss, on_epoch=True, batch_size=len(labels), sync_dist=split != "train")
        return loss

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Compute and log the loss (and, when evaluating, the next-token accuracy) of a batch. Returns the loss.

        Rows are decoded in chunks of :data:`CHUNK` rows of similar length, each cut to its longest row, so that
        a yes/no question is not padded to the length of a caption.
        """
        input_ids, attention_mask, target_mask = batch["input_ids"], batch["attention_mask"], batch["target_mask"]
        cells = self.image_cells(batch)
        image_tokens = self.network.encode_cells(cells)[batch["image_index"]]
        lengths = attention_mask.sum(dim=1)
        losses, correct, counted = [], 0, 0
        for rows in lengths.argsort().split(CHUNK):
            length = int(lengths[rows].max())
            ids, wanted = input_ids[rows, :length], target_mask[rows, :length]
            hidden = self.network(image_tokens[rows], ids, attention_mask[rows, :length])
            logits = self.network.logits(hidden[wanted])
            targets = ids.roll(-1, dims=1)[wanted]  # position t predicts token t + 1
            owner = torch.arange(len(rows), device=ids.device).unsqueeze(1).expand_as(wanted)[wanted]
            losses.append(text_losses(logits, targets, owner, len(rows)))
            correct, counted = correct + (logits.argmax(dim=-1) == targets).sum(), counted + len(targets)
        loss = torch.cat(losses).mean()
        if self.network.config.concept_tokens:
            loss = loss + self.model_config.concept_loss_weight * self.concept_loss(cells, batch["label"], split)
        self.log_loss(loss, split, len(input_ids))
        if split != "train":
            totals = self._totals.setdefault(split, [0, 0])
            totals[0], totals[1] = totals[0] + int(correct), totals[1] + counted
        return loss

    def epoch_metrics(self, split: Split) -> None:
        """Log the split's next-token accuracy over its target tokens and keep it in :attr:`reports`."""
        correct, counted = self._totals.pop(split, [0, 0])
        if counted:
            self.reports[split] = {"token_accuracy": correct / counted, "target_tokens": counted}
            self.log_report(split, {"token_accuracy": correct / counted}, "token_accuracy")

    @classmethod
    def from_configs(
        cls,
        encoder: dict[str, Any],
        model: SmallVLMModelConfig,
        *,
        vocab_size: int,
        optimizer: OptimizerConfig | None = None,
        scheduler: SchedulerConfig | None = None,
        encoder_weights: str | None = None,
    ) -> "SmallVLMTask":
        """Build a task from typed configuration sections."""
        return cls(encoder=encoder, model=asdict(model), vocab_size=vocab_size,
                   optimizer=asdict(optimizer or OptimizerConfig()), scheduler=asdict(scheduler or SchedulerConfig()),
                   encoder_weights=encoder_weights)  # fmt: skip
