"""``bigearth slim evaluate``: probe an encoder slimmed post hoc at every width, with its FLOPs and parameters.

For each width the encoder is slimmed (:mod:`bigearth.slim.network`), batch-norm statistics are re-estimated
from training batches when it has any (:mod:`bigearth.slim.batchnorm`), and its frozen features are probed on
reBEN classification with the kNN and/or linear probe of :func:`bigearth.tasks.ssl.evaluate.probe_encoder`.
Relative accuracy is a width's macro (or micro) AP over width 1's; relative FLOPs likewise. Every report names
the attention scale of cut heads (:mod:`bigearth.slim.spec`) and whether batch-norm statistics were re-estimated,
on how many batches.

Batch-norm statistics are re-estimated at every width, width 1 included, so that every row's statistics come
from the same data the same way (for an encoder pretrained on other data, such as the contrast encoder of
:mod:`bigearth.tasks.slim.contrast`, this also adapts them to reBEN at every width). Width 1 then differs slightly from
``bigearth evaluate --protocol knn`` of the same model; ``--calibration-batches 0`` keeps the recorded statistics
(and width 1 exactly as trained: slimming to width 1 changes nothing).
"""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bigearth.errors import ConfigError
from bigearth.evaluation.predict import resolve_device
from bigearth.features import calibrate
from bigearth.folders.encoders import load_encoder
from bigearth.folders.format import resolve_model_folder
from bigearth.models.encoders import FeatureEncoder
from bigearth.slim.batchnorm import batch_norms
from bigearth.slim.flops import encoder_flops, feature_parameters
from bigearth.slim.network import is_transformer, slim_encoder
from bigearth.slim.spec import DEFAULT_WIDTHS, SlimSpec, check_attention_scale, parse_widths, width_spec
from bigearth.tasks.ssl.evaluate import PROTOCOLS, probe_encoder

#: Definitions written into every report.
DEFINITIONS = {
    "flops": "FLOPs of one pooled feature (one image, 2 per multiply-add of matmuls and convolutions), measured "
    "with torch.utils.flop_counter.FlopCounterMode",
    "parameters": "parameters the pooled features use (a classifier head is not counted)",
    "relative": "value at this width / value at width 1",
    "macro_ap": "mean over classes present of the average precision (bigearth.evaluation.metrics)",
}


def model_label(model: Path) -> str:
    """Return a short name of a model or run folder: the run folder's name, or the model folder's."""
    folder = resolve_model_folder(Path(model))
    return folder.parent.name if folder.name == "model" else folder.name


def slimmed_specs(
    encoder: FeatureEncoder, widths: Sequence[float], *, mode: str, embed_below: float, attention_scale: str
) -> list[SlimSpec]:
    """Return the specs of ``widths`` (width 1 first, added when absent) for this encoder.

    Raises:
        ConfigError: for head dropping on a ResNet (which has no heads; its embedding is never cut) or an unknown
            attention scale.
    """
    widths = parse_widths([1.0, *widths])
    check_attention_scale(attention_scale)
    if is_transformer(encoder):
        return [width_spec(width, embed_below=embed_below, mode=mode, attention_scale=attention_scale)
                for width in widths]  # fmt: skip
    if mode != "dims":
        raise ConfigError("a ResNet is slimmed by channel width; --mode heads applies to transformers only")
    return [SlimSpec(width, attention_scale=attention_scale) for width in widths]


def slimmed_encoders(
    model: Path, data: Path, *, widths: Sequence[float], mode: str, embed_below: float, attention_scale: str,
    calibration_batches: int, batch_size: int, device: str = "auto",
) -> Iterator[tuple[SlimSpec, FeatureEncoder, int]]:  # fmt: skip
    """Yield ``(spec, slimmed encoder, calibration images)`` for every width of a model folder, width 1 first.

    Raises:
        MissingDataError: if there is no model folder at ``model``.
        ConfigError: for a width outside (0, 1], a mode the encoder cannot take or an unknown attention scale.
    """
    encoder = load_encoder(Path(model), device=resolve_device(device))
    for spec in slimmed_specs(encoder, widths, mode=mode, embed_below=embed_below, attention_scale=attention_scale):
        slimmed = slim_encoder(encoder, spec)
        calibrated = 0
        if calibration_batches and batch_norms(slimmed):
            calibrated = calibrate(slimmed, Path(data), batches=calibration_batches, batch_size=batch_size)
        yield spec, slimmed.eval(), calibrated


def report_header(
    model: Path, data: Path, *, split: str, label: str | None, attention_scale: str, calibration_batches: int,
    rows: Sequence[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """Return what every slimming report states: the model, data, split, attention scale and batch-norm handling.

    Args:
        model: the model or run folder.
        data: store folder or release root.
        split: the evaluated split.
        label: the name in reports (None: the folder's).
        attention_scale: the softmax scale of cut heads.
        calibration_batches: training batches that re-estimated batch norm per width.
        rows: the report's rows, each with ``calibration_images``.
    """
    images = [row["calibration_images"] for row in rows]
    if any(images):
        batchnorm = (f"re-estimated at every width from {calibration_batches} training batches "
                     f"({max(images)} images)")  # fmt: skip
    else:
        batchnorm = "none in the network" if calibration_batches else "kept as recorded (--calibration-batches 0)"
    return {"model": str(model), "label": label or model_label(Path(model)), "data": str(data), "split": split,
            "attention_scale": attention_scale, "batchnorm_statistics": batchnorm}  # fmt: skip


def evaluate_widths(
    model: Path, data: Path, *, widths: Sequence[float] = DEFAULT_WIDTHS, protocols: Sequence[str] = PROTOCOLS,
    mode: str = "dims", embed_below: float = 0.25, attention_scale: str = "original", calibration_batches: int = 8,
    split: str = "test", batch_size: int = 64, seed: int = 0, label: str | None = None, device: str = "auto",
) -> dict[str, Any]:  # fmt: skip
    """Slim an encoder post hoc to every width and probe it.

    Args:
        model: model or run folder (SSL encoder, classifier, CSMAE/CSMoE).
        data: store folder or release root.
        widths: widths in (0, 1]; width 1 is always evaluated (the reference of relative values).
        protocols: ``knn`` and/or ``linear``.
        mode: ``dims`` (every head keeps its first dimensions) or ``heads`` (whole heads dropped).
        embed_below: transformers' widths below this also cut the embedding width (0: never).
        attention_scale: softmax scale of cut heads, ``original`` or ``slimmed`` (:mod:`bigearth.slim.spec`).
        calibration_batches: training batches that re-estimate batch-norm statistics at every width (0: keep the
            recorded ones).
        split: the evaluated split.
        batch_size: patches per forward pass.
        seed: seed of the linear probe.
        label: the name in reports and figures (default: the run or model folder's name).
        device: ``auto`` (a CUDA GPU if torch sees one), ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        A JSON-ready report: ``model``, ``label``, ``data``, ``split``, ``attention_scale``,
        ``batchnorm_statistics`` (:func:`report_header`), ``rows`` (one per width: ``width``, ``embed_width``,
        ``mode``, ``attention_scale``, ``flops``, ``parameters``, ``feature_dim``, their ``relative`` values, and per
        protocol ``macro_ap``, ``micro_ap``, ``relative_macro_ap``, ``relative_micro_ap``) and ``definitions``.

    Raises:
        MissingDataError: if there is no model folder at ``model``.
        ConfigError: for a width outside (0, 1], an unknown protocol or mode, or data the encoder cannot read.
    """
    unknown = [name for name in protocols if name not in PROTOCOLS]
    if unknown or not protocols:
        raise ConfigError(f"unknown or no probe protocol(s) {list(unknown)}; use some of {list(PROTOCOLS)}")
    rows = []
    for spec, slimmed, calibrated in slimmed_encoders(model, data, widths=widths, mode=mode, embed_below=embed_below,
                                                      attention_scale=attention_scale,
                                                      calibration_batches=calibration_batches,
                                                      batch_size=batch_size, device=device):  # fmt: skip
        probes = probe_encoder(slimmed, Path(data), protocols=protocols, split=split, batch_size=batch_size,
                               seed=seed)  # fmt: skip
        rows.append({**spec.to_dict(), "flops": encoder_flops(slimmed), "parameters": feature_parameters(slimmed),
                     "feature_dim": slimmed.feature_dim, "calibration_images": calibrated,
                     **{name: {"macro_ap": result["macro"]["ap"], "micro_ap": result["micro"]["ap"]}
                        for name, result in probes.items()}})  # fmt: skip
    _add_relative(rows, protocols)
    header = report_header(model, data, split=split, label=label, attention_scale=attention_scale,
                           calibration_batches=calibration_batches, rows=rows)  # fmt: skip
    return {**header, "protocols": list(protocols), "mode": mode, "embed_below": embed_below, "rows": rows,
            "definitions": DEFINITIONS}  # fmt: skip


def _add_relative(rows: list[dict[str, Any]], protocols: Sequence[str]) -> None:
    """Add every row's values relative to the first row's (width 1)."""
    reference = rows[0]
    for row in rows:
        row["relative"] = {key: row[key] / reference[key] for key in ("flops", "parameters")}
        for name in protocols:
            for metric in ("macro_ap", "micro_ap"):
                base = reference[name][metric]
                row[name][f"relative_{metric}"] = row[name][metric] / base if base else None
