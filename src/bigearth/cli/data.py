"""Data commands: ``synth``, ``encode``, ``verify``, ``info``, ``show``."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bigearth.cli.app import app, at_least, console, fail, labelled
from bigearth.errors import BigEarthError

__all__ = ["console", "fail", "progress_bar"]


@contextmanager
def progress_bar(description: str) -> Iterator:
    """Yield a ``(done, total)`` callback that drives a rich progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # slow import

    description_column = TextColumn("{task.description}", style="progress.description", markup=False)
    with Progress(
        description_column, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=False
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="output folder (release layout) or store folder (--store)")],
    patches: Annotated[int, typer.Option(callback=at_least(1), help="number of patches")] = 600,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same bytes")] = 0,
    store: Annotated[bool, typer.Option("--store", help="write straight into a store (no GeoTIFFs)")] = False,
) -> None:
    """Make a synthetic mini-reBEN in the official layout (or straight into a store)."""
    from bigearth.data.synth import synthesize
    from bigearth.data.synth_store import synthesize_store

    try:
        with progress_bar(f"synthesising {patches} patches") as update:
            write = synthesize_store if store else synthesize
            frame = write(out, patches=patches, seed=seed, progress=update)
    except BigEarthError as error:
        fail(error)
    console.print(f"wrote {len(frame)} patches to {out} ({'store' if store else 'release layout'})")


@app.command()
def encode(
    root: Annotated[Path, typer.Argument(help="reBEN release root (official GeoTIFF layout)")],
    store: Annotated[Path, typer.Argument(help="store folder to write (an interrupted encode is resumed)")],
    workers: Annotated[
        int, typer.Option(callback=at_least(0), help="reading threads or processes (0: in this process)")
    ] = 2,
    map_size_gib: Annotated[int, typer.Option("--map-size", callback=at_least(1), help="LMDB map size in GiB")] = 1024,
    packed: Annotated[bool, typer.Option("--packed", help="also write the packed layout for batch reads")] = False,
    reader: Annotated[
        str, typer.Option(help="GeoTIFF reader: bigearth (fastest; others via tifffile), tifffile or rasterio (GDAL)")
    ] = "bigearth",
    scheduler: Annotated[
        str | None, typer.Option(help="address of an existing Dask scheduler whose workers read (or 'local')")
    ] = None,
) -> None:
    """Encode a release root into a rico-hdl compatible store (resumable)."""
    from bigearth.data.encode import encode as run_encode

    try:
        with progress_bar("encoding") as update:
            summary = run_encode(
                root, store, workers=workers, map_size=map_size_gib << 30, progress=update, reader=reader,
                scheduler=scheduler,
            )  # fmt: skip
        if packed:
            pack(store)
    except BigEarthError as error:
        fail(error)
    if summary.already_complete:
        console.print(f"{store} is already a complete store ({summary.found} values); nothing to do")
    else:
        console.print(f"encoded {summary.written} of {summary.found} values into {store}; the store is complete")


@app.command(name="pack")
def pack_command(store: Annotated[Path, typer.Argument(help="complete store folder")]) -> None:
    """Write the packed layout (fixed-size records for batch reads) beside a store's LMDB."""
    pack(store)


def pack(store: Path) -> None:
    """Write a store's packed layout with a progress bar (errors printed by the caller's handler)."""
    from bigearth.data.packed import pack as run_pack

    try:
        with progress_bar("packing") as update:
            entry = run_pack(store, progress=update)
    except BigEarthError as error:
        fail(error)
    console.print(f"packed {entry['rows']} patches into {store / 'packed'}")


@app.command()
def verify(
    store: Annotated[Path, typer.Argument(help="store folder")],
    root: Annotated[Path | None, typer.Option(help="release root to compare every array with")] = None,
) -> None:
    """Check that every patch of a store is present and decodes (and, with --root, equals the GeoTIFFs)."""
    from bigearth.data.verify import verify as run_verify

    try:
        with progress_bar("verifying") as update:
            report = run_verify(store, root, progress=update)
    except BigEarthError as error:
        fail(error)
    for problem in report.problems[:20]:
        console.print(labelled("problem:", "red", problem), soft_wrap=True)
    if not report.ok:
        console.print(labelled(f"{len(report.problems)} problem(s)", "bold red", f"in {report.checked} values"))
        raise typer.Exit(1)
    compared = f", equal to the GeoTIFFs in {root}" if root else ""
    console.print(labelled("ok:", "green", f"{report.checked} values present, decodable and as recorded{compared}"))


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="store folder or release root")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Count patches per split, country and class."""
    from bigearth.data.metadata import read_metadata_table
    from bigearth.data.source import open_source
    from bigearth.data.summary import summarise

    try:
        kind = open_source(path).kind
        summary = summarise(read_metadata_table(path, include_snow_cloud=True)) | {"path": str(path), "kind": kind}
    except BigEarthError as error:
        fail(error)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    console.print(
        f"{path} ({kind}): {summary['patches']} patches, {summary['clean_patches']} without snow/cloud; "
        f"flagged: {summary['flagged']['seasonal_snow']} seasonal snow, "
        f"{summary['flagged']['cloud_or_shadow']} cloud or shadow (excluded by default)"
    )
    for title, rows in (("country", summary["countries"]), ("class", summary["classes"])):
        table = Table(title=f"patches per {title} and split (without snow/cloud)")
        table.add_column(title)
        for split in ("train", "validation", "test"):
            table.add_column(split, justify="right")
        for name, counts in [*rows.items(), ("all patches", summary["splits"])]:
            table.add_row(name, *(str(counts[s]) for s in ("train", "validation", "test")))
        console.print(table)


@app.command()
def show(
    patch_id: Annotated[
        str | None, typer.Argument(help="S2 patch name (default: a test patch with many classes)")
    ] = None,
    data: Annotated[Path, typer.Option(help="store folder or release root")] = Path("."),
    out: Annotated[Path, typer.Option(help="PNG file to write")] = Path("patch.png"),
) -> None:
    """Render one patch: true colour, false colour, VV, VH and the reference map with a class legend."""
    from bigearth.data.dataset import ReBENDataset

    try:
        dataset = ReBENDataset(data, split=None if patch_id else "test", bands=14, with_mask=True,
                               include_snow_cloud=True)  # fmt: skip
        if patch_id is None:  # the test patch with the most classes makes the most telling figure
            patch_id = str(dataset.index.patch_id[dataset.index.labels.sum(axis=1).argmax()])
        dataset.restrict([patch_id])
        figure = dataset.plot(dataset[0])  # titled with the patch id and its labels
    except BigEarthError as error:
        fail(error)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    console.print(f"wrote {out}")
