"""Evaluating self-supervised encoders on reBEN classification: kNN probe, linear probe, fine-tuning.

:func:`evaluate_encoder` works on any bigearth model folder or run folder that
:func:`bigearth.models.encoders.load_encoder` reads (SSL encoders, classifiers, foundation models).
"""

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bigearth.errors import ConfigError
from bigearth.evaluation.metrics import classification_report
from bigearth.evaluation.predict import resolve_device
from bigearth.features import extract_features
from bigearth.folders.encoders import load_encoder
from bigearth.folders.format import read_model_config, resolve_model_folder
from bigearth.models.encoders import FeatureEncoder
from bigearth.tasks.mae.probe import probe_features
from bigearth.tasks.ssl.knn import TEMPERATURE, K, knn_scores

PROTOCOLS = ("knn", "linear")


def probe_encoder(
    encoder: FeatureEncoder, data: Path, *, protocols: Sequence[str] = PROTOCOLS, split: str = "test", k: int = K,
    temperature: float = TEMPERATURE, probe_steps: int = 300, batch_size: int = 64, seed: int = 0,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Probe a loaded encoder on one split with frozen features (each split's features extracted once).

    Args:
        encoder: the encoder (its device is used).
        data: store folder or release root.
        protocols: ``knn`` (:mod:`bigearth.tasks.ssl.knn`) and/or ``linear`` (:mod:`bigearth.tasks.mae.probe`; its
            weight decay is chosen on the validation split).
        split: the evaluated split (the training split provides the neighbours and fits the probe).
        k: kNN neighbours.
        temperature: kNN vote temperature.
        probe_steps: optimisation steps of the linear probe.
        batch_size: patches per forward pass.
        seed: seed of the linear probe.

    Returns:
        ``{protocol: JSON-ready result}``: ``protocol`` (a description), ``split``, ``samples``, ``macro`` and
        ``micro`` metrics (``ap``, ``f1``, ...), per class, definitions.

    Raises:
        ConfigError: for an unknown protocol, or data whose band or class order differs from the encoder's.
        MissingDataError: if the data lacks a sensor the encoder reads.
    """
    unknown = [name for name in protocols if name not in PROTOCOLS]
    if unknown:
        raise ConfigError(f"unknown probe protocol(s) {unknown}; use {list(PROTOCOLS)}")
    features = {
        name: extract_features(encoder, data, split=name, batch_size=batch_size)
        for name in dict.fromkeys(["train", split, *(["validation"] if "linear" in protocols else [])])
    }
    train, evaluated, names = features["train"], features[split], encoder.metadata.class_names
    results: dict[str, dict[str, Any]] = {}
    if "knn" in protocols:
        scores = knn_scores(train.features, train.labels, evaluated.features, k=k, temperature=temperature)
        report = classification_report(scores, evaluated.labels.long(), names)
        results["knn"] = {"protocol": f"kNN (k = {k}, cosine, weights exp(s / {temperature}), Wu et al. 2018)",
                          "split": split, **report.to_dict()}  # fmt: skip
    if "linear" in protocols:
        probe = probe_features(train, features["validation"], evaluated, names, steps=probe_steps, seed=seed)
        results["linear"] = {"protocol": "linear probe on frozen pooled features (weight decay chosen on validation)",
                             "split": split, "weight_decay": probe.weight_decay, **probe.test.to_dict()}  # fmt: skip
    return results


def evaluate_encoder(
    model: Path, data: Path, *, protocol: str, split: str = "test", device: str = "auto", batch_size: int = 64
) -> dict[str, Any]:
    """Probe the encoder of a model or run folder on one split (``bigearth evaluate --protocol knn|linear``).

    Args:
        model: model folder or run folder.
        data: store folder or release root.
        protocol: ``knn`` or ``linear``.
        split: the evaluated split.
        device: ``auto`` (a CUDA GPU if torch sees one), ``cpu``, ``cuda`` or ``cuda:N``.
        batch_size: patches per forward pass.

    Returns:
        A JSON-ready dict: ``protocol``, ``split``, ``samples``, ``macro``/``micro`` metrics (``ap``, ``f1``, ...),
        per class, and the definitions.

    Raises:
        MissingDataError: if there is no model folder at ``model``.
        ConfigError: for an unknown protocol or data in another band or class order.
    """
    encoder = load_encoder(Path(model), device=resolve_device(device))
    return probe_encoder(encoder, Path(data), protocols=[protocol], split=split, batch_size=batch_size)[protocol]


def finetune(
    model: Path, data: Path, *, recipe: Path, out: Path, overrides: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Fine-tune a pretrained encoder through the classification task and return its test metrics.

    The classification recipe gets the encoder's architecture, bands and class order and starts from its weights
    (``model.weights``); everything else (epochs, learning rate, early stopping) is the recipe's.

    Args:
        model: the pretrained model or run folder.
        data: store folder or release root.
        recipe: a classification recipe (e.g. ``configs/classification/demo-cpu.yaml``).
        out: the fine-tuning run folder.
        overrides: further dotted overrides of the recipe.

    Raises:
        ConfigError: if the recipe does not fit the encoder.
    """
    from bigearth.tasks.config import load_config
    from bigearth.tasks.train import train

    folder = resolve_model_folder(Path(model))
    encoder = read_model_config(folder)
    pinned = [
        f"model.weights={folder}",
        f"model.backbone={encoder['backbone']}",
        f"model.backbone_args={json.dumps(encoder.get('backbone_args', {}))}",
        f"model.image_size={encoder.get('image_size', 120)}",
        f"data.bands={json.dumps(list(encoder['bands']))}",
        f"data.class_order={encoder['class_order']}",
        f"data.path={data}",
    ]
    run = train(load_config(Path(recipe), [*pinned, *overrides]), out=Path(out))
    metrics = json.loads(run.metrics_file.read_text())
    return {"protocol": f"fine-tuning with {Path(recipe).name}", "run": str(run.path), **metrics["test"]}


def macro_micro(result: dict[str, Any] | None) -> tuple[float, float]:
    """Return ``(macro AP, micro AP)`` of a probe or fine-tuning result (NaN where absent)."""
    if not result:
        return math.nan, math.nan
    macro, micro = result["macro"]["ap"], result["micro"]["ap"]
    return (math.nan if macro is None else macro), (math.nan if micro is None else micro)
