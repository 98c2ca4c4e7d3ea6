"""Construction commands: ``build`` (reBEN from Sentinel tiles and CLC) and ``build-example`` (synthetic inputs)."""

import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bigearth.cli.app import app, at_least
from bigearth.cli.data import console, fail
from bigearth.errors import BigEarthError

if TYPE_CHECKING:  # the build package loads GDAL and Dask, rich.progress takes time: imported when a command runs
    from rich.progress import Progress

    from bigearth.construct import BuildSummary, TileProgressEvent
    from bigearth.construct.tile import TileJob


class _BuildProgress:
    """Two rich bars, tiles and patches, fed by build progress events (from any thread)."""

    def __init__(self, progress: "Progress") -> None:
        self.progress = progress
        self.tiles = progress.add_task("tiles", total=None)
        self.patches = progress.add_task("patches", total=None)
        self.examined: dict[str, int] = {}
        self.finished: set[str] = set()
        self.lock = threading.Lock()

    def plan(self, jobs: list["TileJob"], todo: list["TileJob"]) -> None:
        candidates = sum(0 if job.block is None else job.block.count for job in todo)
        self.progress.update(self.tiles, total=len(todo), completed=0)
        self.progress.update(self.patches, total=candidates, completed=0)

    def __call__(self, event: "TileProgressEvent") -> None:
        with self.lock:
            self.examined[event.tile] = max(self.examined.get(event.tile, 0), event.examined)
            if event.finished:
                self.finished.add(event.tile)
            self.progress.update(self.patches, completed=sum(self.examined.values()))
            self.progress.update(self.tiles, completed=len(self.finished))


def _summary_table(summary: "BuildSummary") -> Table:
    table = Table(title="patches per tile (dropped: S2 nodata, >= 25 % unlabelled, no S1 overlap)")
    columns = ("candidates", "nodata", "unlabelled", "no_s1", "kept", "seasonal_snow", "cloud_or_shadow")
    table.add_column("tile")
    for name in columns:
        table.add_column(name.replace("_", " "), justify="right")
    for counts in summary.tiles:
        table.add_row(counts["tile"], *(str(counts[name]) for name in columns))
    table.add_row("all tiles", *(str(summary.totals[name]) for name in columns), style="bold")
    return table


@app.command("build")
def build_command(
    out: Annotated[Path, typer.Argument(help="output folder (new, empty, or a build to resume or extend)")],
    s2: Annotated[list[Path], typer.Option("--s2", help="S2 L2A product (.SAFE folder) or folder of products; repeat")],
    s1: Annotated[list[Path], typer.Option("--s1", help="terrain-corrected S1 GeoTIFF (VV, VH dB) or folder; repeat")],
    clc: Annotated[Path, typer.Option(help="CORINE Land Cover 2018: the vector GeoPackage or a raster")],
    workers: Annotated[
        int | None,
        typer.Option(callback=at_least(0), help="local Dask worker processes (default: all cores; 0: here)"),
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="address of an existing Dask scheduler to run on")] = None,
    keep_baseline: Annotated[bool, typer.Option(help="name tiles with the product's baseline, not N9999")] = False,
    clc_layer: Annotated[str | None, typer.Option(help="CLC polygon layer, if the file has several")] = None,
    clc_field: Annotated[str | None, typer.Option(help="CLC code field (default Code_18)")] = None,
    snow_threshold: Annotated[float, typer.Option(help="SCL snow fraction that flags a patch")] = 0.01,
    cloud_threshold: Annotated[float, typer.Option(help="SCL cloud/shadow fraction that flags a patch")] = 0.01,
    any_country: Annotated[bool, typer.Option(help="assign any country, not only reBEN's ten")] = False,
) -> None:
    """Build reBEN (official layout and metadata) from S2 L2A tiles, S1 scenes and CLC 2018, on Dask."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from bigearth.construct import BuildOptions, build
    from bigearth.construct.quality import QualityThresholds

    try:
        thresholds = QualityThresholds(snow=snow_threshold, cloud_or_shadow=cloud_threshold)
        options = BuildOptions(keep_baseline=keep_baseline, thresholds=thresholds)
        if any_country:
            options = replace(options, countries=None)
        columns = (
            TextColumn("{task.description}", style="progress.description", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
        )
        with Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bars:
            progress = _BuildProgress(bars)
            summary = build(
                s2, s1, clc, out, options=options, workers=workers, scheduler=scheduler, clc_layer=clc_layer,
                clc_field=clc_field, progress=progress, on_plan=progress.plan,
            )  # fmt: skip
    except BigEarthError as error:
        fail(error)
    console.print(_summary_table(summary))
    totals = summary.totals
    console.print(
        f"{out}: {totals['kept']} patches in {len(summary.tiles)} tile(s) ({totals['clean']} in metadata.parquet, "
        f"{totals['flagged']} with snow/cloud/shadow); {len(summary.built)} tile(s) cut now; see build_summary.json"
    )


@app.command("build-example")
def build_example_command(
    out: Annotated[Path, typer.Argument(help="folder for the synthetic inputs (s2/, s1/, clc/)")],
    seed: Annotated[int, typer.Option(help="random seed: same seed, same inputs")] = 0,
    window: Annotated[str, typer.Option(help="grid cells to cover: x0,y0,columns,rows")] = "10,22,16,4",
) -> None:
    """Write small synthetic build inputs (S2 SAFE product, S1 scene, CLC GeoPackage) at tile T33UUP."""
    from bigearth.construct.fixtures import make_example, parse_window

    try:
        example = make_example(out, seed=seed, window=parse_window(window))
    except BigEarthError as error:
        fail(error)
    console.print(f"wrote synthetic inputs for {example.window.count} patches to {out}; build them with:")
    console.print(example.command(out / "reben"), soft_wrap=True, markup=False)
