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
    from bigearth.folders.hub import import_hub_model

    try:
        model = import_hub_model(folder, out, band_order=band_order)
    except BigEarthError as error:
        fail(error)
    meta = model.metadata
    console.print(
        f"{out}: {model.architecture}, bands {','.join(meta.bands)} ({meta.trained_on['band_order']}), "
        f"{meta.num_classes} classes in {meta.class_order} order, {meta.image_size} px"
    )


@app.command()
def export(
    model: Annotated[
        Path, typer.Argument(help="model folder, or finished run folder (its test metrics go in the card)")
    ],
    out: Annotated[Path, typer.Option(help="folder to write: weights, config.json, README.md model card, figure")],
    data: Annotated[Path | None, typer.Option(help="store or release root for the example figure")] = None,
    split: Annotated[str, typer.Option(help="split of the example patch")] = "test",
) -> None:
    """Write a model folder ready for the Hugging Face hub: a model card, and a config.json that timm loads."""
    from bigearth.evaluation.card import export_model

    try:
        card = export_model(model, out, data=data, split=split)
    except BigEarthError as error:
        fail(error)
    console.print(f"wrote {card}; upload with huggingface_hub.upload_folder(folder_path={str(out)!r}, repo_id=...)")
