"""S1/S2 CLIP as a ``LightningModule``: open_clip's symmetric InfoNCE with a learnable, clamped logit scale.

Each training batch pairs B patches with one caption each (:mod:`bigearth.tasks.clip.data`); the loss is
:func:`bigearth.models.clip.loss.clip_loss`, and after every optimiser step the temperature parameter is clamped
to ``[0, log 100]`` as open_clip's training loop does. AdamW (timm, no weight decay on biases, norms and the
0-dimensional logit scale) with linear warm-up and cosine decay per step; best checkpoint on the validation
text->image recall@10. Train, validation and test share one step.

Logged keys: ``train/loss`` (per step and epoch), ``train/logit_scale``, ``{val,test}/loss`` and
``{val,test}/{recall@1, recall@5, recall@10, zero_shot_macro_ap, zero_shot_micro_ap}`` per epoch
(:mod:`bigearth.tasks.clip.metrics`).
"""

from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from bigearth.evaluation.metrics import sample_ids
from bigearth.folders.weights import load_backbone_weights
from bigearth.models.clip.loss import LOGIT_SCALE_MAX, clip_loss
from bigearth.models.clip.model import CLIPModel
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.tokenizer import QuestionTokenizer
from bigearth.tasks.clip.config import CLIPModelConfig
from bigearth.tasks.clip.metrics import CLIPReport, EmbeddingCollector, text_to_image_recall, zero_shot_report
from bigearth.tasks.config import OptimizerConfig, SchedulerConfig
from bigearth.tasks.module import Split, TaskModule

#: The metric that early stopping and checkpoint selection maximise.
MONITOR = "val/recall@10"


@torch.no_grad()
def prompt_embeddings(network: CLIPModel, tokenizer: QuestionTokenizer, class_names: tuple[str, ...]) -> Tensor:
    """Return the embeddings ``(C, D)`` of the zero-shot prompts of the classes (``model.prompt``, lower case)."""
    prompts = [network.config.prompt.format(name.lower()) for name in class_names]
    tokens = tokenizer.encode(prompts)
    device = network.logit_scale.device
    return network.encode_text(tokens.input_ids.to(device), tokens.attention_mask.to(device))


def clip_report(network: CLIPModel, tokenizer: QuestionTokenizer, class_names: tuple[str, ...],
                collected: tuple[Tensor, Tensor, Tensor, Tensor]) -> CLIPReport:  # fmt: skip
    """Return the report of a split's collected ``(images, labels, texts, owner)`` embeddings."""
    images, labels, texts, owner = collected
    prompts = prompt_embeddings(network, tokenizer, class_names).float()
    return CLIPReport(
        patches=len(images), captions=len(texts), recall=text_to_image_recall(texts, images, owner),
        zero_shot=zero_shot_report(images @ prompts.T.to(images.device), labels, class_names),
        logit_scale=float(network.logit_scale.exp()),
    )  # fmt: skip


class CLIPTask(TaskModule):
    """Train and evaluate a :class:`~bigearth.models.clip.model.CLIPModel` on caption batches.

    The constructor takes plain data (so that checkpoints rebuild the task from their hyper-parameters).

    Args:
        metadata: :meth:`ModelMetadata.to_dict` of the images (bands, statistics, class order, image encoder).
        model: :class:`~bigearth.tasks.clip.config.CLIPModelConfig` fields.
        vocab: the tokenizer's ``vocab.txt`` (the prompts of zero-shot evaluation are tokenised with it).
        optimizer: :class:`~bigearth.tasks.config.OptimizerConfig` fields.
        scheduler: :class:`~bigearth.tasks.config.SchedulerConfig` fields.

    Batches are :class:`~bigearth.tasks.clip.data.CaptionBatch` dicts.
    """

    def __init__(
        self,
        metadata: dict[str, Any],
        model: dict[str, Any],
        vocab: str,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.metadata = ModelMetadata.from_dict(metadata)
        self.model_config = CLIPModelConfig(**model)
        self.lr = self.model_config.lr
        self.optimizer_config = OptimizerConfig(**(optimizer or {}))
        self.scheduler_config = SchedulerConfig(**(scheduler or {}))
        self.tokenizer = QuestionTokenizer(vocab, max_length=self.model_config.max_length)
        #: The last report of each evaluated split.
        self.reports: dict[str, CLIPReport] = {}
        self._weights_loaded = False
        self.network = CLIPModel(self.model_config.network(), self.metadata)
        self.embeddings = nn.ModuleDict({"val": EmbeddingCollector(), "test": EmbeddingCollector()})

    def configure_model(self) -> None:
        """Load ``model.image_weights`` when a fresh training run starts (not on resume or evaluation)."""
        if self.model_config.image_weights and self.fresh_fit and not self._weights_loaded:
            load_backbone_weights(self.network.image.backbone, self.model_config.image_weights,
                                  bands=self.metadata.bands)  # fmt: skip
            self._weights_loaded = True

    def shared_step(self, batch: dict[str, Any], split: Split) -> Tensor:
        """Compute and log the loss of a batch; collect the embeddings of evaluated splits. Returns the loss."""
        images, texts, scale = self.network(batch["image"], batch["input_ids"], batch["attention_mask"])
        pair = batch["pair"]
        if len(pair) > 1:  # an evaluation batch of one patch has no negative: no loss, its embeddings still count
            loss = clip_loss(images.float(), texts[pair].float(), scale.float())
            self.log_loss(loss, split, len(pair))
        else:
            loss = images.new_zeros(())
        if split == "train":
            self.log("train/logit_scale", scale.detach(), on_step=True, on_epoch=False)
            return loss
        image_ids = sample_ids(batch["patch_id"], device=images.device)
        self.embeddings[split].update(images, batch["label"], image_ids, texts, batch["caption_id"],
                                      image_ids[batch["caption_image"]])  # fmt: skip
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Clamp the temperature parameter to ``[0, log 100]`` after the optimiser step, as open_clip does."""
        with torch.no_grad():
            self.network.logit_scale.clamp_(0, LOGIT_SCALE_MAX)

    def epoch_metrics(self, split: Split) -> None:
        """Keep the split's report and log its metrics (early stopping watches ``val/recall@10``)."""
        collected = self.embeddings[split].compute()
        self.embeddings[split].reset()
        if collected is None:
            return
        self.reports[split] = clip_report(self.network, self.tokenizer, tuple(self.metadata.class_names), collected)
        self.log_report(split, self.reports[split].scalars(), "recall@10")

    @classmethod
    def from_configs(
        cls,
        metadata: ModelMetadata,
        model: CLIPModelConfig,
        *,
        vocab: str,
        optimizer: OptimizerConfig | None = None,
        scheduler: SchedulerConfig | None = None,
    ) -> "CLIPTask":
        """Build a task from typed configuration sections."""
        return cls(metadata=metadata.to_dict(), model=asdict(model), vocab=vocab,
                   optimizer=asdict(optimizer or OptimizerConfig()),
                   scheduler=asdict(scheduler or SchedulerConfig()))  # fmt: skip
