"""SSL commands: ``ssl probe`` (an encoder's probes), ``ssl table`` (results table), ``ssl study`` (a grid of runs)."""

from pathlib import Path
from typing import Annotated

import typer

from bigearth.atomic import atomic_write_bytes
from bigearth.cli.app import BatchSizeOption, DeviceOption, app
from bigearth.cli.classification import print_probe
from bigearth.cli.data import console, fail
from bigearth.cli.train import OverridesArgument, PrintConfigOption, run_recipe
from bigearth.errors import BigEarthError, ConfigError

ssl_app = typer.Typer(help="Self-supervised encoders: probes, the results table and studies.", no_args_is_help=True)
app.add_typer(ssl_app, name="ssl")


@ssl_app.command()
def probe(
    model: Annotated[Path, typer.Argument(help="model folder, or run folder (its model/)")],
    data: Annotated[Path, typer.Option(help="store folder or release root")],
    protocol: Annotated[str, typer.Option(help="knn (k = 200, cosine) or linear (frozen features)")] = "knn",
    split: Annotated[str, typer.Option(help="the evaluated split: validation (val) or test")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
    batch_size: BatchSizeOption = 64,
    device: DeviceOption = "auto",
) -> None:
    """Probe an encoder's frozen features on reBEN classification (`bigearth evaluate --protocol knn|linear`)."""
    print_probe(model, data, protocol=protocol, split=split, as_json=as_json, device=device, batch_size=batch_size)


@ssl_app.command()
def table(
    runs: Annotated[list[Path], typer.Argument(help="SSL run folders (bigearth pretrain configs/ssl/...)")],
    data: Annotated[Path, typer.Option(help="store folder or release root")],
    out: Annotated[Path | None, typer.Option(help="Markdown file to write (default: print only)")] = None,
    protocols: Annotated[str, typer.Option(help="comma-separated probes: knn, linear")] = "knn,linear",
    finetune: Annotated[
        Path | None, typer.Option(help="classification recipe to fine-tune every encoder with (slow)")
    ] = None,
    random_baseline: Annotated[bool, typer.Option(help="add a randomly initialised encoder row")] = True,
) -> None:
    """Write the results table: method x regulariser, kNN and linear probes (and fine-tuning) on the test split."""
    from bigearth.tasks.ssl.table import evaluate_runs, markdown_table

    try:
        chosen = [name.strip() for name in protocols.split(",") if name.strip()]
        if not runs:
            raise ConfigError("name at least one SSL run folder")
        rows = evaluate_runs(runs, data, protocols=chosen, random_baseline=random_baseline, finetune_recipe=finetune)
    except BigEarthError as error:
        fail(error)
    text = markdown_table(rows, data=str(data))
    if out is not None:
        atomic_write_bytes(out, text.encode())
    console.print(text, markup=False, highlight=False)


@ssl_app.command(context_settings={"allow_interspersed_args": True})
def study(
    config: Annotated[Path, typer.Argument(help="study file (task: ssl-study, see configs/study/) or packaged name")],
    overrides: OverridesArgument = None,
    data: Annotated[Path | None, typer.Option(help="store folder or release root (sets data.path)")] = None,
    out: Annotated[Path | None, typer.Option(help="study folder (default runs/<study name>)")] = None,
    print_config: PrintConfigOption = False,
) -> None:
    """Run a study: every pretraining of its grid (complete ones skipped), probes, table and figures in --out."""
    from bigearth.recipes import resolve_recipe
    from bigearth.tasks.registry import recipe_task
    from bigearth.tasks.study.config import TASK

    try:
        task = recipe_task(resolve_recipe(config))
        if task != TASK:
            raise ConfigError(f"{config} is a {task} recipe, not a study (task: {TASK}); run it with `bigearth train`")
    except BigEarthError as error:
        fail(error)
    run_recipe(config, list(overrides or []), data, out, print_config=print_config)
