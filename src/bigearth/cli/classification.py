"""Scene classification commands: ``evaluate``, ``predict`` (``train`` is :mod:`bigearth.cli.train`'s)."""

import json
from pathlib import Path
from typing import Annotated

import typer

from bigearth.cli.app import BatchSizeOption, DeviceOption, app, at_least
from bigearth.cli.data import console, fail
from bigearth.errors import BigEarthError, ConfigError


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="model folder, or run folder (its model/)")],
    data: Annotated[Path, typer.Option(help="store folder or release root")],
    split: Annotated[str, typer.Option(help="train, validation (val) or test")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    batch_size: BatchSizeOption = 64,
    num_workers: Annotated[int, typer.Option(callback=at_least(0), help="DataLoader worker processes")] = 0,
    device: DeviceOption = "auto",
    protocol: Annotated[
        str, typer.Option(help="full (the model as trained), or knn / linear probes of its encoder")
    ] = "full",
) -> None:
    """Print a model's per-class, macro and micro metrics on one split (each patch counted once)."""
    from bigearth.evaluation.evaluate import evaluate_model
    from bigearth.evaluation.predict import resolve_device
    from bigearth.evaluation.report import report_table
    from bigearth.folders.classifier import load_model
    from bigearth.folders.format import describe_folder

    if protocol in ("knn", "linear"):
        print_probe(model, data, protocol=protocol, split=split, as_json=as_json, device=device, batch_size=batch_size)
        return
    try:
        if protocol != "full":
            raise BigEarthError(f"unknown protocol {protocol!r}: use full, knn or linear")
        if describe_folder(model).kind == "ssl-encoder":
            raise BigEarthError(
                f"{model} is a self-supervised encoder whose head was never trained; evaluate it with "
                "--protocol knn or --protocol linear"
            )
        network = load_model(model, device=resolve_device(device))
        report, _, _ = evaluate_model(network, data, split=split, batch_size=batch_size, num_workers=num_workers)
    except BigEarthError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps({"model": str(model), "data": str(data), "split": split, **report.to_dict()}, indent=2))
    else:
        console.print(report_table(report, title=f"{model} on {data} ({split}, {report.samples} patches)"))


def print_probe(
    model: Path, data: Path, *, protocol: str, split: str, as_json: bool, device: str = "auto", batch_size: int = 64
) -> None:
    """Probe a model's encoder (``knn`` or ``linear``) on one split and print the report (or it as JSON)."""
    from bigearth.evaluation.metrics import report_from_dict
    from bigearth.evaluation.report import report_table
    from bigearth.tasks.ssl.evaluate import evaluate_encoder

    try:
        result = evaluate_encoder(model, data, protocol=protocol, split=split, device=device, batch_size=batch_size)
    except BigEarthError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps({"model": str(model), "data": str(data), **result}, indent=2))
    else:
        title = f"{model} on {data} ({split}, {result['protocol']})"
        console.print(report_table(report_from_dict(result), title=title))


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="model folder, or run folder (its model/)")],
    data: Annotated[Path | None, typer.Option(help="store folder or release root (every patch, or --ids)")] = None,
    ids: Annotated[list[str] | None, typer.Option(help="patch ids to predict (comma-separated or repeated)")] = None,
    s2_dir: Annotated[Path | None, typer.Option(help="S2 patch folder, or a folder of patch folders")] = None,
    s1_dir: Annotated[Path | None, typer.Option(help="S1 patch folder, or a folder of patch folders")] = None,
    out: Annotated[Path | None, typer.Option(help="CSV file to write (default: print to the terminal)")] = None,
    threshold: Annotated[float | None, typer.Option(help="decision threshold (default: the model's, 0.5)")] = None,
    batch_size: BatchSizeOption = 64,
    device: DeviceOption = "auto",
) -> None:
    """Write per-class probabilities and thresholded labels of patches in a store/release or in GeoTIFF folders."""
    from bigearth.atomic import atomic_write_bytes
    from bigearth.evaluation.metrics import THRESHOLD
    from bigearth.evaluation.predict import predict_dataset, predict_folders, predictions_frame, resolve_device
    from bigearth.folders.classifier import load_model
    from bigearth.folders.format import read_model_config

    try:
        if (data is None) == (s2_dir is None and s1_dir is None):
            raise ConfigError("pass either --data PATH [--ids ...] or --s2-dir DIR [--s1-dir DIR], not both")
        wanted = [name.strip() for value in ids or [] for name in value.split(",") if name.strip()]
        if ids is not None and not wanted:
            raise ConfigError(f"--ids {' '.join(map(repr, ids))} names no patch; give patch ids, or leave --ids out "
                              "to predict every patch")  # fmt: skip
        network = load_model(model, device=resolve_device(device))
        if data is not None:
            names, probabilities = predict_dataset(network, data, ids=wanted or None, batch_size=batch_size)
        else:
            names, probabilities = predict_folders(network, s2_dir, s1_dir, batch_size=batch_size)
        cut = threshold if threshold is not None else read_model_config(model).get("threshold", THRESHOLD)
        frame = predictions_frame(names, probabilities, network.metadata.class_names, threshold=cut)
    except BigEarthError as error:
        fail(error)
    if out is None:
        console.print(frame[["patch_id", "labels"]].to_string(index=False))
    else:
        atomic_write_bytes(out, frame.to_csv(index=False, float_format="%.6f").encode())
        console.print(f"wrote {len(frame)} predictions to {out} (threshold {cut})")
