"""Scene classification commands: ``train``, ``evaluate``, ``predict``."""

import importlib
import json
from pathlib import Path
from typing import Annotated

import typer

from bigearth.cli.app import BatchSizeOption, DeviceOption, app, at_least
from bigearth.cli.data import console, fail
from bigearth.cli.pretrain import config_task
from bigearth.cli.recipes import RECIPE_HELP, PrintConfig, print_recipe
from bigearth.errors import BigEarthError, ConfigError

#: config ``task`` -> module with ``run_training(config, *, data, out, overrides) -> Path``, besides classification.
OTHER_TRAINING_TASKS: dict[str, str] = {
    "segmentation": "bigearth.tasks.mae.segmentation",
    "vqa": "bigearth.tasks.vqa.train",
}


@app.command(context_settings={"allow_interspersed_args": True}, epilog=RECIPE_HELP)
def train(
    config: Annotated[Path, typer.Argument(help="YAML recipe, or a run folder to resume")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="dotted key=value overrides, e.g. model.lr=5e-4 trainer.max_epochs=3")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="store folder or release root (sets data.path)")] = None,
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/<config name>-<timestamp>)")] = None,
    print_config: PrintConfig = False,
) -> None:
    """Train a model as the recipe says; an interrupted run in --out (or a run folder as CONFIG) is resumed.

    Tasks: classification, segmentation, vqa (the recipe's task key).
    """
    from bigearth.tasks.config import apply_overrides, load_config, parse_config
    from bigearth.tasks.run import RunFolder
    from bigearth.tasks.train import train as run_training

    extra = list(overrides or []) + ([f"data.path={data}"] if data is not None else [])
    try:
        if print_config:
            print_recipe(config, extra, tasks=("classification", *OTHER_TRAINING_TASKS))
            return
        task = _recipe_task(config)
        if task in OTHER_TRAINING_TASKS:
            module = importlib.import_module(OTHER_TRAINING_TASKS[task])
            run_path = module.run_training(config, data=data, out=out, overrides=list(overrides or []))
            console.print(f"finished: model, metrics and plots in {run_path}")
            return
        if config.is_dir():
            folder = RunFolder(config)
            recipe = folder.read_config()
            recipe = parse_config(apply_overrides(recipe.to_dict(), extra), name=recipe.name)
            out = out or config
        else:
            recipe = load_config(config, extra)
        run = run_training(recipe, out=out)
    except BigEarthError as error:
        fail(error)
    from lightning.fabric.utilities.rank_zero import rank_zero_only  # lazily: `bigearth info` needs no torch

    if rank_zero_only.rank == 0:  # one table, not one per DDP process
        console.print(f"finished: model, metrics and plots in {run.path}")
        _print_report(run.path, "test")


def _recipe_task(config: Path) -> str:
    """Return the ``task`` of a YAML recipe or of a run folder's resolved recipe (classification if none)."""
    from bigearth.tasks.run import CONFIG_FILE

    recipe = config / CONFIG_FILE if config.is_dir() else config
    if config.is_dir() and not recipe.is_file():
        raise ConfigError(f"{config} is no run folder (no {CONFIG_FILE}); pass a run folder or a YAML recipe")
    return config_task(recipe, default="classification")


def _print_report(path: Path, split: str) -> None:
    """Print the metrics table of a finished run's split from its ``metrics.json``."""
    from bigearth.evaluation.metrics import report_from_dict
    from bigearth.evaluation.report import report_table

    metrics = json.loads((path / "metrics.json").read_text())
    console.print(report_table(report_from_dict(metrics[split]), title=f"{metrics['run']}: {split}"))


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
    from bigearth.evaluation.metrics import report_from_dict
    from bigearth.evaluation.predict import resolve_device
    from bigearth.evaluation.report import report_table
    from bigearth.models.io import load_model, read_model_config

    if protocol in ("knn", "linear"):
        from bigearth.tasks.ssl.evaluate import evaluate_encoder

        try:
            result = evaluate_encoder(model, data, protocol=protocol, split=split, device=device, batch_size=batch_size)
        except BigEarthError as error:
            fail(error)
        if as_json:
            typer.echo(json.dumps({"model": str(model), "data": str(data), **result}, indent=2))
        else:
            title = f"{model} on {data} ({split}, {protocol} probe of the encoder)"
            console.print(report_table(report_from_dict(result), title=title))
        return
    try:
        if protocol != "full":
            raise BigEarthError(f"unknown protocol {protocol!r}: use full, knn or linear")
        if "ssl" in read_model_config(model):
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
    from bigearth.errors import ConfigError
    from bigearth.evaluation.metrics import THRESHOLD
    from bigearth.evaluation.predict import predict_dataset, predict_folders, predictions_frame, resolve_device
    from bigearth.models.io import load_model, read_model_config

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
