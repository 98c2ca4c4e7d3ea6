"""The model-independent side of VLM prediction: the generation interface, predictions files and score reports.

Any vision-language model plugs in by implementing :class:`TextGenerator` (a fine-tuned or zero-shot Hugging Face
checkpoint, :mod:`bigearth.tasks.vlm.hf`; the built-in small VLM) and by a folder kind that
:func:`bigearth.tasks.vlm.load.load_generator` dispatches on. Then:

* :func:`predict` generates an answer for every text of a split (batched, greedy: the generator's contract),
  parses it (:func:`~bigearth.text.instruct.parse_generation`) and writes the predictions file that
  ``bigearth text evaluate`` scores (``ID``, ``prediction``, and the raw ``generation``), with a summary
  (``<file>.summary.json``: rows, unparsable generations per type, seconds, tokens per second where the generator
  counts them);
* :func:`evaluate` does the same and scores the predictions with :mod:`bigearth.text.evaluate`: the per-task table
  (``scores.csv``: binary and mcq accuracy per category, box mIoU and Acc@IoU, caption BLEU/ROUGE-L/CIDEr-D/
  METEOR), ``metrics.json`` and the figure ``scores.png`` of ``bigearth text evaluate``, and
  ``generation.json`` (the summary).

Nothing is half-written: the predictions and reports are written atomically, after every text was generated.
"""

import io
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from torch import Tensor

from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.errors import ConfigError, MetadataError
from bigearth.progress import track
from bigearth.text.evaluate import Evaluation, evaluate_predictions, write_report
from bigearth.text.instruct import InstructSample, PatchImages, instruction_samples, parse_generation
from bigearth.text.reader import iter_texts, normalise_text_split
from bigearth.text.schema import TEXT_COLUMNS, TEXT_TYPES

#: File of the generation summary that :func:`evaluate` writes beside the scores.
GENERATION_FILE = "generation.json"
#: Predictions file that :func:`evaluate` writes.
PREDICTIONS_FILE = "predictions.parquet"


@dataclass(frozen=True)
class ImageSpec:
    """What a generator reads per patch.

    Attributes:
        bands: band names in channel order (``("B04", "B03", "B02")`` for RGB checkpoints, which turn them into
            :func:`~bigearth.text.instruct.true_colour` composites) or a preset such as ``"s1s2"``.
        normalise: standardised with reBEN's statistics (True) or native units (False).
    """

    bands: str | tuple[str, ...]
    normalise: bool


@runtime_checkable
class TextGenerator(Protocol):
    """A vision-language model that answers instruction samples; what ``bigearth vlm predict/evaluate`` runs.

    Attributes:
        image_spec: the images :meth:`generate` is given.
        generated_tokens: tokens generated so far (for tokens per second; 0 if not counted).
    """

    image_spec: ImageSpec
    generated_tokens: int

    def generate(self, samples: Sequence[InstructSample], images: Tensor, max_new_tokens: int) -> list[str]:
        """Return one greedy generation per sample (the answer only, without the prompt).

        Args:
            samples: B samples (prompt: :meth:`~bigearth.text.instruct.InstructSample.prompt`).
            images: ``(B, C, 120, 120)`` float32, row i the image of sample i, as :attr:`image_spec` says.
            max_new_tokens: the most tokens generated per sample.
        """
        ...


@dataclass
class GenerationSummary:
    """What :func:`predict` did.

    Attributes:
        rows: texts answered.
        unparsable: generations per text type that could not be parsed (boxes written as ``[]``, other answers
            kept as generated and scored wrong).
        seconds: wall time of the generation.
        generated_tokens: tokens generated (0 if the generator does not count them).
        split: the split answered.
    """

    rows: int
    unparsable: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    generated_tokens: int = 0
    split: str = "test"

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second of wall time (0 if not counted)."""
        return self.generated_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        """Return the summary as a JSON-ready dict."""
        return {**asdict(self), "tokens_per_second": self.tokens_per_second}


def split_texts(
    texts: Path, split: str, *, types: Sequence[str] | None = None, limit: int | None = None
) -> tuple[pd.DataFrame, list[InstructSample]]:
    """Read the rows of one split of a texts file (optionally of some types, the first ``limit``) as samples.

    Raises:
        MissingDataError, CorruptDataError, MetadataError: for a missing or malformed file (see
            :func:`~bigearth.text.reader.read_texts`), a split without rows, or a wanted type without rows.
    """
    name = normalise_text_split(split)
    splits: set[str] = set()
    chunks = []
    for batch in iter_texts(texts, TEXT_COLUMNS):  # the release's 9.5 M rows are read a batch at a time
        splits.update(batch["split"])
        chunks.append(batch[batch["split"] == name])
    rows = pd.concat(chunks, ignore_index=True)
    if rows.empty:
        raise MetadataError(f"{texts} holds no text of split {name!r} (it holds {sorted(splits)})")
    wanted = [t for t in TEXT_TYPES if t in set(rows["type"])] if types is None else list(types)
    samples = instruction_samples(rows, types=wanted, source=f"the {name} rows of {texts}")
    rows = rows[rows["type"].isin(wanted)]
    return rows.head(limit), samples[:limit]


def generate_answers(
    generator: TextGenerator,
    samples: Sequence[InstructSample],
    images: PatchImages,
    *,
    batch_size: int = 8,
    max_new_tokens: int = 64,
) -> tuple[list[str], list[str], dict[str, int]]:
    """Generate and parse an answer per sample, batch by batch (samples of one patch together).

    Returns:
        The predictions (parsed), the raw generations, and the unparsable count per text type.
    """
    if batch_size < 1 or max_new_tokens < 1:
        raise ConfigError(f"batch_size ({batch_size}) and max_new_tokens ({max_new_tokens}) must be at least 1")
    images.check([sample.patch_id for sample in samples])
    order = sorted(range(len(samples)), key=lambda i: samples[i].patch_id)
    generations: list[str] = [""] * len(samples)
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    for batch in track(batches, description="generating"):
        chosen = [samples[i] for i in batch]
        texts = generator.generate(chosen, images.read([s.patch_id for s in chosen]), max_new_tokens)
        if len(texts) != len(chosen):
            raise RuntimeError(f"the generator returned {len(texts)} texts for {len(chosen)} samples")
        for i, text in zip(batch, texts, strict=True):
            generations[i] = text
    predictions, unparsable = [], dict.fromkeys((s.type for s in samples), 0)
    for sample, text in zip(samples, generations, strict=True):
        answer, parsed = parse_generation(text, sample)
        predictions.append(answer)
        unparsable[sample.type] += not parsed
    return predictions, generations, unparsable


def predict(
    generator: TextGenerator,
    data: Path,
    texts: Path,
    out: Path,
    *,
    split: str = "test",
    types: Sequence[str] | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 64,
) -> GenerationSummary:
    """Answer every text of a split and write the predictions file (and ``<out>.summary.json``).

    Args:
        generator: the model.
        data: store folder or release root holding the texts' patches.
        texts: BigEarthNet.txt parquet file.
        out: predictions parquet file to write (``ID``, ``prediction``, ``generation``).
        split: ``train``, ``validation``/``val``, ``test`` or ``bench``.
        types: text types to answer (default: every type of the split).
        limit: answer the first ``limit`` texts of the split only.
        batch_size: samples per :meth:`TextGenerator.generate` call.
        max_new_tokens: the most tokens generated per answer.

    Raises:
        MissingDataError, CorruptDataError, MetadataError: a missing or malformed texts file, a split or type
            without rows, patches missing from the data.
    """
    rows, summary, _ = _predict(generator, data, texts, split, types, limit, batch_size, max_new_tokens)
    _write_predictions(rows, Path(out))
    atomic_write_json(summary_file(Path(out)), summary.to_json())
    return summary


def summary_file(predictions: Path) -> Path:
    """Return the summary file written beside a predictions file."""
    return predictions.with_name(f"{predictions.stem}.summary.json")


def _predict(
    generator: TextGenerator,
    data: Path,
    texts: Path,
    split: str,
    types: Sequence[str] | None,
    limit: int | None,
    batch_size: int,
    max_new_tokens: int,
) -> tuple[pd.DataFrame, GenerationSummary, pd.DataFrame]:
    """Return the predictions, the summary and the texts answered."""
    rows, samples = split_texts(texts, split, types=types, limit=limit)
    images = PatchImages(data, generator.image_spec.bands, normalise=generator.image_spec.normalise)
    start, tokens = time.perf_counter(), generator.generated_tokens
    predictions, generations, unparsable = generate_answers(
        generator, samples, images, batch_size=batch_size, max_new_tokens=max_new_tokens
    )
    summary = GenerationSummary(len(samples), unparsable, time.perf_counter() - start,
                                generator.generated_tokens - tokens, normalise_text_split(split))  # fmt: skip
    frame = pd.DataFrame({"ID": [s.id for s in samples], "prediction": predictions, "generation": generations})
    return frame, summary, rows


def _write_predictions(frame: pd.DataFrame, out: Path) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    atomic_write_bytes(out, buffer.getvalue())


def evaluate(
    generator: TextGenerator,
    data: Path,
    texts: Path,
    folder: Path,
    *,
    split: str = "test",
    types: Sequence[str] | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 64,
) -> tuple[Evaluation, GenerationSummary]:
    """Answer a split, score the answers and write the report into ``folder`` (see the module docstring).

    Arguments and errors as :func:`predict`; the scores are those of ``bigearth text evaluate`` on the texts
    answered.
    """
    predictions, summary, rows = _predict(generator, data, texts, split, types, limit, batch_size, max_new_tokens)
    evaluation = evaluate_predictions(rows, predictions)
    folder = Path(folder)
    _write_predictions(predictions, folder / PREDICTIONS_FILE)
    atomic_write_json(folder / GENERATION_FILE, summary.to_json())
    write_report(evaluation, folder)
    return evaluation, summary
