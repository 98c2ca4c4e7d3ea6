"""Visual question answering on reBEN as a ``LightningModule`` (LiT-4-RSVQA's recipe).

Binary cross-entropy on the one-hot answer over the K answer logits (an answer outside the vocabulary is an
all-zero target), AdamW with linear warm-up and cosine decay per step, best checkpoint on the validation average
accuracy. Train, validation and test share one step.

Logged keys: ``train/loss`` (per step and epoch), ``{val,test}/loss`` and ``{val,test}/{overall_accuracy,
average_accuracy, macro_f1, accuracy_<type>}`` per epoch (:mod:`bigearth.tasks.vqa.metrics`).
"""

from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.folders.weights import load_backbone_weights
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.model import VQAModel
from bigearth.tasks.config import OptimizerConfig, SchedulerConfig
from bigearth.tasks.module import Split, TaskModule
from bigearth.tasks.vqa.config import VQAModelConfig
from bigearth.tasks.vqa.metrics import VQAReport, VQAScores, vqa_report

#: The metric that early stopping and checkpoint selection maximise.
MONITOR = "val/average_accuracy"


def answer_targets(answers: Tensor, num_answers: int) -> Tensor:
    """Return one-hot targets ``(B, num_answers)`` float32 of answer indices ``(B,)``; -1 gives an all-zero row."""
    inside = answers >= 0
    return F.one_hot(answers.clamp(min=0), num_answers).float() * inside.unsqueeze(1)


class VQATask(TaskModule):
    """Train and evaluate a :class:`~bigearth.models.vqa.model.VQAModel` on question batches.

    The constructor takes plain data (so that checkpoints rebuild the task from their hyper-parameters) and keeps
    it as typed attributes.

    Args:
        metadata: :meth:`ModelMetadata.to_dict` of the images (bands, statistics, image encoder name).
        model: :class:`~bigearth.tasks.vqa.config.VQAModelConfig` fields.
        answers: the answer vocabulary, most frequent first.
        types: question type names (the batches' ``type`` indices).
        categories: question category names (the batches' ``category`` indices).
        optimizer: :class:`~bigearth.tasks.config.OptimizerConfig` fields.
        scheduler: :class:`~bigearth.tasks.config.SchedulerConfig` fields.
        answer_frequencies: share of the training questions with each answer; the answer logits start at their
            log-odds (:meth:`~bigearth.models.vqa.model.VQAModel.init_answer_bias`).

    Batches are :class:`~bigearth.tasks.vqa.data.QuestionBatch` dicts.
    """

    def __init__(
        self,
        metadata: dict[str, Any],
        model: dict[str, Any],
        answers: list[str],
        types: list[str],
        categories: list[str],
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        answer_frequencies: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.metadata = ModelMetadata.from_dict(metadata)
        self.model_config = VQAModelConfig(**model)
        self.lr = self.model_config.lr
        self.optimizer_config = OptimizerConfig(**(optimizer or {}))
        self.scheduler_config = SchedulerConfig(**(scheduler or {}))
        self.answers, self.types, self.categories = tuple(answers), tuple(types), tuple(categories)
        self.answer_frequencies = answer_frequencies
        #: The last report of each evaluated split.
        self.reports: dict[str, VQAReport] = {}
        self._weights_loaded = False
        self.configure_models()
        self.configure_losses()
        self.configure_metrics()

    def configure_models(self) -> None:
        """Build the network and start the answer logits at the answer frequencies.

        The text encoder gets its pretrained weights where it has some; local image weights are loaded in
        :meth:`configure_model`.
        """
        self.network = VQAModel(
            self.model_config.network(), self.metadata, self.answers,
            drop_rate=self.model_config.drop_rate, drop_path_rate=self.model_config.drop_path_rate,
        )  # fmt: skip
        if self.answer_frequencies is not None:
            self.network.init_answer_bias(torch.tensor(self.answer_frequencies))
        if self.freezes_image:
            backbone = self.network.image.backbone
            backbone.requires_grad_(False)
            backbone.get_classifier().requires_grad_(True)

    @property
    def freezes_image(self) -> bool:
        """Whether the image encoder's body stays fixed (``model.freeze_image``)."""
        return self.model_config.freeze_image and self.network.image is not None

    def train(self, mode: bool = True) -> "VQATask":
        """Set training mode (a frozen image encoder body stays in evaluation mode: fixed batch-norm statistics)."""
        super().train(mode)
        if mode and self.freezes_image:
            backbone = self.network.image.backbone
            backbone.eval()
            backbone.get_classifier().train()
        return self

    def configure_losses(self) -> None:
        """Binary cross-entropy on the answer logits against one-hot answers."""
        self.loss = nn.BCEWithLogitsLoss()

    def configure_metrics(self) -> None:
        """One score collector per evaluated split (synced across processes, each question once)."""
        self.scores = nn.ModuleDict({"val": VQAScores(), "test": VQAScores()})

    def configure_model(self) -> None:
        """Load ``model.image_weights`` when a fresh training run starts (not on resume or evaluation)."""
        if (
            self.model_config.image_weights
            and self.network.image is not None
            and self.fresh_fit
            and not self._weights_loaded
        ):
            load_backbone_weights(
                self.network.image.backbone, self.model_config.image_weights, bands=self.metadata.bands
            )
            self._weights_loaded = True

    def forward(self, batch: dict[str, Any]) -> Tensor:
        """Return answer logits ``(B, num_answers)`` of a question batch."""
        return self.network(batch.get("image"), batch["input_ids"], batch["attention_mask"], batch["image_index"],
                            batch.get("question_index"))  # fmt: skip

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Compute and log the loss of a batch; collect the answers of evaluated splits. Returns the loss."""
        answers = batch["answer"]
        logits = self(batch).float()  # the loss in float32 under bf16 autocast
        loss = self.loss(logits, answer_targets(answers, logits.shape[1]))
        self.log_loss(loss, split, len(answers))
        if split != "train":
            self.scores[split].update(logits.argmax(dim=1), answers, batch["type"], batch["category"], batch["sample"])
        return loss

    def epoch_metrics(self, split: Split) -> None:
        """Keep the split's report and log its metrics (early stopping watches ``val/average_accuracy``)."""
        predictions, answers, types, categories = self.scores[split].columns()
        self.scores[split].reset()
        if not len(predictions):
            return
        report = vqa_report(predictions, answers, types, categories, type_names=self.types,
                            category_names=self.categories, num_answers=len(self.answers))  # fmt: skip
        self.reports[split] = report
        self.log_report(split, report.scalars(), "average_accuracy")

    @classmethod
    def from_configs(
        cls,
        metadata: ModelMetadata,
        model: VQAModelConfig,
        *,
        answers: tuple[str, ...],
        types: tuple[str, ...],
        categories: tuple[str, ...],
        optimizer: OptimizerConfig | None = None,
        scheduler: SchedulerConfig | None = None,
        answer_frequencies: list[float] | None = None,
    ) -> "VQATask":
        """Build a task from typed configuration sections."""
        return cls(
            metadata=metadata.to_dict(),
            model=asdict(model),
            answers=list(answers),
            types=list(types),
            categories=list(categories),
            optimizer=asdict(optimizer or OptimizerConfig()),
            scheduler=asdict(scheduler or SchedulerConfig()),
            answer_frequencies=answer_frequencies,
        )
