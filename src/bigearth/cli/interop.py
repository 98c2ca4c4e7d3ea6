"""Interoperability commands: ``import`` (published reBEN hub folders) and ``export`` (model cards for the hub)."""

from pathlib import Path
from typing import Annotated

import typer

from bigearth.cli.app import app
from bigearth.cli.data import console, fail
from bigearth.errors import BigEarthError


@app.command("import")
def import_model(
    folder: Annotated[Path, typer.Argument(help="downloaded BIFOLD/ConfigILM reBEN hub folder")],
    out: Annotated[Path, typer.Option(help="bigearth model folder to write")],
    band_order: Annotated[
        str | None,
        typer.Option(help="v0.1, v0.2 or comma-separated band names (default: the folder name's -v0.x suffix)"),
    ] = None,
) -> None:
    """Convert a published reBEN classifier once into a bigearth model folder that records its band order."""
    from bigearth.models.hub import import_hub_model

    try:
        model = import_hub_model(folder, out, band_order=band_order)
    except BigEarthError as error:
        fail(error)
    meta = model.metadata
    console.print(
        f"{out}: {model.architecture}, bands {','.join(meta.bands)} ({meta.trained_on['band_order']}), "
        f"{meta.num_classes} classes in {meta.class_order} order, {meta.image_size} px"
    )
