"""Slimming commands: ``slim evaluate``, ``slim analyze``, ``slim compare``, ``slim export``, ``slim contrast``."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bigearth.cli.app import BatchSizeOption, DeviceOption, app, at_least
from bigearth.cli.data import console, fail
from bigearth.errors import BigEarthError, ConfigError, CorruptDataError, MissingDataError
from bigearth.recipes import resolve_recipe

slim_app = typer.Typer(help="Slimmability: post-hoc width slimming, its accuracy and FLOPs, redundancy analysis.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(slim_app, name="slim")

ModelArgument = Annotated[Path, typer.Argument(help="model or run folder (SSL encoder, classifier, CSMAE/CSMoE)")]
DataOption = Annotated[Path, typer.Option(help="store folder or release root")]
WidthsOption = Annotated[str, typer.Option(help="comma-separated widths in (0, 1]; width 1 is always included")]
ModeOption = Annotated[str, typer.Option(help="dims (every head keeps its first dimensions) or heads (drop heads)")]
EmbedOption = Annotated[float, typer.Option(help="transformer widths below this also cut the embedding width")]
JsonOption = Annotated[bool, typer.Option("--json", help="print the whole report as JSON")]
LabelOption = Annotated[str | None, typer.Option(help="name in reports and figures")]
CalibrationOption = Annotated[
    int, typer.Option(callback=at_least(0), help="training batches re-estimating batch norm (0: none)")
]
ScaleOption = Annotated[
    str, typer.Option(help="softmax scale of cut heads: original (the full model's 1/sqrt(d_head)) or slimmed")
]


def _print_header(report: dict[str, Any]) -> None:
    """Print what every slimming report states beside its table: attention scale, batch-norm statistics."""
    console.print(f"attention scale of cut heads: {report['attention_scale']}; batch-norm statistics: "
                  f"{report['batchnorm_statistics']}")  # fmt: skip


def _write(report: dict[str, Any], out: Path, name: str, figure: Any) -> tuple[Path, Path]:
    """Write ``out/<name>.json`` and ``out/<name>.png``; return both paths."""
    from bigearth.atomic import atomic_write_json
    from bigearth.evaluation.plots import save_figure

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"{name}.json", report)
    return out / f"{name}.json", save_figure(figure, out / f"{name}.png")


def _default_out(model: Path, kind: str) -> Path:
    """``runs/slim-<label>/`` for a model folder's reports."""
    from bigearth.tasks.slim.evaluate import model_label

    return Path("runs") / f"slim-{model_label(model)}" / kind


@slim_app.command()
def evaluate(
    model: ModelArgument,
    data: DataOption,
    widths: WidthsOption = "1,0.75,0.5,0.25,0.1",
    protocol: Annotated[str, typer.Option(help="comma-separated probes: knn, linear")] = "knn,linear",
    mode: ModeOption = "dims",
    embed_below: EmbedOption = 0.25,
    attention_scale: ScaleOption = "original",
    calibration_batches: CalibrationOption = 8,
    split: Annotated[str, typer.Option(help="the evaluated split")] = "test",
    label: LabelOption = None,
    out: Annotated[Path | None, typer.Option(help="report folder (default runs/slim-<model>/evaluate)")] = None,
    as_json: JsonOption = False,
    batch_size: BatchSizeOption = 64,
    device: DeviceOption = "auto",
) -> None:
    """Slim an encoder post hoc to every width: kNN / linear probe, FLOPs (measured), parameters."""
    from bigearth.slim.spec import parse_widths
    from bigearth.tasks.slim.evaluate import evaluate_widths
    from bigearth.tasks.slim.plots import plot_comparison

    try:
        protocols = [name.strip() for name in protocol.split(",") if name.strip()]
        report = evaluate_widths(model, data, widths=parse_widths(widths), protocols=protocols, mode=mode,
                                 embed_below=embed_below, attention_scale=attention_scale,
                                 calibration_batches=calibration_batches, split=split, label=label,
                                 batch_size=batch_size, device=device)  # fmt: skip
        paths = _write(report, out or _default_out(model, "evaluate"), "slim-evaluate",
                       plot_comparison([report], protocol=protocols[0]))  # fmt: skip
    except BigEarthError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"{report['label']} slimmed post hoc ({split} split; relative = / width 1)")
    for column in ("width", "embed", "GFLOPs", "rel. FLOPs", "params", *[f"{p} macro AP (rel.)" for p in protocols]):
        table.add_column(column, justify="right")
    for row in report["rows"]:
        probes = [f"{row[p]['macro_ap']:.4f} ({100 * (row[p]['relative_macro_ap'] or 0):.1f} %)" for p in protocols]
        table.add_row(f"{row['width']:g}", f"{row['embed_width']:g}", f"{row['flops'] / 1e9:.4f}",
                      f"{100 * row['relative']['flops']:.2f} %", f"{row['parameters']:,}", *probes)  # fmt: skip
    console.print(table)
    _print_header(report)
    console.print(f"wrote {paths[0]} and {paths[1]}")


@slim_app.command()
def analyze(
    model: ModelArgument,
    data: DataOption,
    widths: WidthsOption = "1,0.75,0.5,0.25,0.1",
    mode: ModeOption = "dims",
    embed_below: EmbedOption = 0.25,
    attention_scale: ScaleOption = "original",
    split: Annotated[str, typer.Option(help="the split whose features are analysed")] = "test",
    label: LabelOption = None,
    out: Annotated[Path | None, typer.Option(help="report folder (default runs/slim-<model>/analyze)")] = None,
    as_json: JsonOption = False,
    batch_size: BatchSizeOption = 64,
    device: DeviceOption = "auto",
) -> None:
    """Redundancy of the features at every width: PCA explained variance, correlation, effective dimensionality."""
    from bigearth.slim.spec import parse_widths
    from bigearth.tasks.slim.analysis import analyze_widths
    from bigearth.tasks.slim.plots import plot_redundancy

    try:
        report = analyze_widths(model, data, widths=parse_widths(widths), mode=mode, embed_below=embed_below,
                                attention_scale=attention_scale, split=split, label=label, batch_size=batch_size,
                                device=device)  # fmt: skip
        paths = _write(report, out or _default_out(model, "analyze"), "slim-analyze", plot_redundancy(report))
    except BigEarthError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"feature redundancy of {report['label']} ({split} split)")
    for column in ("width", "dims", "PCs for 90 %", "PCs for 99 %", "participation ratio", "effective rank",
                   "mean |corr|"):  # fmt: skip
        table.add_column(column, justify="right")
    for row in report["rows"]:
        table.add_row(f"{row['width']:g}", str(row["feature_dim"]), str(row["components_for_90"]),
                      str(row["components_for_99"]), f"{row['participation_ratio']:.2f}",
                      f"{row['effective_rank']:.2f}", f"{row['mean_abs_correlation']:.3f}")  # fmt: skip
    console.print(table)
    _print_header(report)
    console.print(f"wrote {paths[0]} and {paths[1]}")


@slim_app.command()
def compare(
    reports: Annotated[list[Path], typer.Argument(help="slim-evaluate.json reports (bigearth slim evaluate)")],
    out: Annotated[Path, typer.Option(help="figure to write (.png)")],
    protocol: Annotated[str, typer.Option(help="knn or linear")] = "knn",
    metric: Annotated[str, typer.Option(help="macro_ap or micro_ap")] = "macro_ap",
) -> None:
    """Draw relative accuracy vs FLOPs of several encoders on one figure."""
    from bigearth.evaluation.plots import save_figure
    from bigearth.tasks.slim.plots import plot_comparison

    try:
        if metric not in ("macro_ap", "micro_ap"):
            raise ConfigError(f"unknown metric {metric!r}; use macro_ap or micro_ap")
        loaded = []
        for path in reports:
            if not path.is_file():
                raise MissingDataError(
                    f"{path} does not exist; pass the slim-evaluate.json of `bigearth slim evaluate`"
                )
            try:
                loaded.append(json.loads(path.read_text()))
            except json.JSONDecodeError as error:
                raise CorruptDataError(f"{path} is not valid JSON ({error})") from error
        save_figure(plot_comparison(loaded, protocol=protocol, metric=metric), out)
    except BigEarthError as error:
        fail(error)
    console.print(f"wrote {out}")


@slim_app.command()
def export(
    model: ModelArgument,
    width: Annotated[float, typer.Option(help="width in (0, 1]")],
    out: Annotated[Path, typer.Option(help="the slimmed model folder to write")],
    embed_width: Annotated[float, typer.Option(help="embedding width in (0, 1] (transformers)")] = 1.0,
    mode: ModeOption = "dims",
    attention_scale: ScaleOption = "original",
    data: Annotated[Path | None, typer.Option(help="store or release root: batch-norm statistics (ResNets)")] = None,
    calibration_batches: CalibrationOption = 8,
) -> None:
    """Write a slimmed copy of a model as an ordinary model folder (every command that takes a model takes it)."""
    from bigearth.slim.spec import SlimSpec
    from bigearth.tasks.slim.export import save_slimmed_model

    try:
        spec = SlimSpec(width=width, embed_width=embed_width, mode=mode, attention_scale=attention_scale)
        images = save_slimmed_model(model, spec, out, data=data, calibration_batches=calibration_batches)
    except BigEarthError as error:
        fail(error)
    statistics = f"from {images} training images" if images else "not re-estimated (none, or kept as sliced)"
    console.print(f"wrote {out} (attention scale of cut heads: {attention_scale}; batch-norm statistics "
                  f"{statistics})")  # fmt: skip


@slim_app.command()
def contrast(
    out: Annotated[Path, typer.Option(help="folder to write (its model/ is the encoder)")],
    recipe: Annotated[Path, typer.Option(help="SSL recipe (file or packaged name)")] = Path("ssl/tiny-cpu"),
    images: Annotated[int, typer.Option(callback=at_least(1), help="dead-leaves images per epoch")] = 384,
) -> None:
    """Pretrain the contrast encoder on natural-image-like (dead-leaves) images, with reBEN's band metadata."""
    from bigearth.tasks.slim.contrast import train_contrast_encoder

    try:
        folder = train_contrast_encoder(resolve_recipe(recipe), out, images=images)
    except BigEarthError as error:
        fail(error)
    console.print(f"wrote {folder}; compare it with `bigearth slim evaluate {folder} --data STORE`")
