"""Model cards: a model folder made ready for the Hugging Face hub (``README.md`` + an example figure).

:func:`export_model` copies a model folder (whose ``config.json`` timm's ``local-dir:`` / ``hf-hub:`` loaders read)
and writes ``README.md``: Hugging Face card metadata (YAML front matter) and what a user must know to feed the
model: bands and their order, normalisation statistics, class order, image size and resampling, the training data,
the test metrics of the run that made it, and how to load it with timm or bigearth. Upload the folder with
``huggingface_hub.upload_folder(folder_path=OUT, repo_id=...)``.
"""

import json
from pathlib import Path
from typing import Any

import torch

from bigearth.atomic import atomic_write_bytes
from bigearth.errors import MissingDataError
from bigearth.folders.classifier import load_model
from bigearth.folders.format import CONFIG_FILE, MODEL_WEIGHTS_FILE, RUN_MODEL_DIR, resolve_model_folder
from bigearth.models.classifier import SceneClassifier

CARD_FILE = "README.md"
FIGURE_FILE = "example.png"
#: The metrics a run's ``metrics.json`` reports, as card rows.
_CARD_METRICS = ("ap", "f1", "precision", "recall")


def _test_metrics(folder: Path) -> dict[str, Any] | None:
    """Return the test report of the run whose ``model/`` is ``folder``, or None for a bare model folder."""
    metrics = folder.parent / "metrics.json"
    if folder.name != RUN_MODEL_DIR or not metrics.is_file():
        return None
    return json.loads(metrics.read_text()).get("test")


def _example_figure(model: SceneClassifier, data: Path, split: str, out: Path) -> str:
    """Draw the first patch of ``split`` with its labels and the model's predictions; return its patch id."""
    from bigearth.data.plot import plot_sample
    from bigearth.evaluation.plots import save_figure
    from bigearth.evaluation.predict import predict_groups
    from bigearth.features import model_transform, open_dataset

    dataset = open_dataset(model, data, split=split).restrict(first=1)
    if not len(dataset):
        raise MissingDataError(f"{data} has no {split} patch to draw; pass --split with a split that has patches")
    batch = dataset.__getitems__([0])
    transform = model_transform(model)
    sample = batch.sample(0)
    sample["image"] = transform(batch["groups"])[0]
    sample["prediction"] = predict_groups(model, batch["groups"], transform, [str(sample["patch_id"])])[0]
    figure = plot_sample(sample, transform.stats, model.metadata.class_names, suptitle=sample["patch_id"])
    save_figure(figure, out)
    return str(sample["patch_id"])


def _card(model: SceneClassifier, config: dict[str, Any], metrics: dict[str, Any] | None, figure: str | None) -> str:
    """Return the model card text (YAML front matter + Markdown)."""
    meta = model.metadata
    sensors = {"s1": "sentinel-1", "s2": "sentinel-2"}
    tags = ["image-classification", "multi-label", "remote-sensing", "bigearthnet", "reben", "timm", "bigearth"]
    front = ["---", "library_name: timm", "pipeline_tag: image-classification", "tags:"]
    front += [f"- {tag}" for tag in tags + [sensors[name] for name in meta.sensors]]
    front += ["---", ""]
    lines = [
        f"# {model.architecture} on reBEN ({', '.join(meta.bands)})",
        "",
        f"A multi-label scene classifier of reBEN (refined BigEarthNet) patches: a timm `{model.architecture}` that "
        f"reads {meta.in_chans} bands at {meta.image_size} x {meta.image_size} px and gives {meta.num_classes} "
        "logits (apply a sigmoid; a class is predicted above "
        f"{config.get('threshold', 0.5)}). Written by bigearth {config.get('bigearth_version', '')}.",
        "",
        "## Inputs",
        "",
        f"Bands in channel order, with the mean and std subtracted and divided by (native units: reflectance x 10^4 "
        f"for Sentinel-2, backscatter in dB for Sentinel-1); the 20 m and 60 m bands are upsampled to 10 m by "
        f"`{meta.resample}` resampling.",
        "",
        "| channel | band | mean | std |",
        "| --- | --- | --- | --- |",
        *[
            f"| {index} | {band} | {mean:.4f} | {std:.4f} |"
            for index, (band, mean, std) in enumerate(zip(meta.bands, meta.mean, meta.std, strict=True))
        ],
        "",
        "## Outputs",
        "",
        f"Logits in the `{meta.class_order}` class order:",
        "",
        *[f"{index}. {name}" for index, name in enumerate(meta.class_names)],
        "",
        "## Training data",
        "",
        *[f"- {key}: {value}" for key, value in meta.trained_on.items()],
        *(["- not recorded"] if not meta.trained_on else []),
        "",
        "## Test metrics",
        "",
    ]
    if metrics is None:
        lines += ["No test metrics: the folder was not exported from a finished `bigearth train` run.", ""]
    else:
        lines += [
            f"On {metrics['samples']} test patches, threshold {metrics['threshold']} (macro: mean over the classes "
            "present in the test split):",
            "",
            "| average | " + " | ".join(_CARD_METRICS) + " |",
            "| --- |" + " --- |" * len(_CARD_METRICS),
            *[
                f"| {average} | " + " | ".join(f"{metrics[average][name]}" for name in _CARD_METRICS) + " |"
                for average in ("macro", "micro")
            ],
            "",
        ]
    if figure is not None:
        lines += ["## Example", "", f"![labels and predictions of test patch {figure}]({FIGURE_FILE})", ""]
    lines += [
        "## Use",
        "",
        "```python",
        "import timm",
        'model = timm.create_model("local-dir:THIS_FOLDER", pretrained=True)  # or "hf-hub:OWNER/NAME"',
        "# bigearth checks bands, class order and statistics against the data:",
        "# bigearth predict THIS_FOLDER --data STORE",
        "```",
        "",
    ]
    return "\n".join(front + lines)


def export_model(path: Path, out: Path, *, data: Path | None = None, split: str = "test") -> Path:
    """Write a hub-ready copy of a model folder: weights, ``config.json``, ``README.md`` and an example figure.

    Args:
        path: a model folder or a finished run folder (its test metrics go into the card).
        out: the folder to write (upload it with ``huggingface_hub.upload_folder``).
        data: a store or release root to draw the example figure from (its first ``split`` patch); none: no figure.
        split: the split of the example patch.

    Returns:
        The path of the model card.

    Raises:
        MissingDataError: if there is no model folder at ``path`` or no patch in ``data``.
        CorruptDataError: if the folder's files do not belong together.
        ConfigError: if ``data`` lacks the model's bands.
    """
    folder = resolve_model_folder(Path(path))
    model = load_model(folder)
    out = Path(out)
    for name in (MODEL_WEIGHTS_FILE, CONFIG_FILE):  # weights first: config.json marks a complete folder
        atomic_write_bytes(out / name, (folder / name).read_bytes())
    with torch.inference_mode():
        figure = _example_figure(model, Path(data), split, out / FIGURE_FILE) if data is not None else None
    config = json.loads((folder / CONFIG_FILE).read_text())
    card = out / CARD_FILE
    atomic_write_bytes(card, _card(model, config, _test_metrics(folder), figure).encode())
    return card
