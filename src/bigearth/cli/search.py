"""Text search command: ``search`` (a CLIP model folder ranks the patches of a data folder by a text query)."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bigearth.cli.app import BatchSizeOption, DeviceOption, app, at_least, labelled
from bigearth.cli.data import console, fail
from bigearth.errors import BigEarthError


@app.command(context_settings={"allow_interspersed_args": True})
def search(
    model: Annotated[Path, typer.Argument(help="CLIP model folder, or a run folder (its model/)")],
    query: Annotated[str, typer.Argument(help='what to find, e.g. "coastal wetlands next to marine waters"')],
    data: Annotated[Path, typer.Option(help="store folder or release root to search")],
    k: Annotated[int, typer.Option("--k", callback=at_least(1), help="patches to return")] = 10,
    split: Annotated[str | None, typer.Option(help="train, validation or test (default: every patch)")] = None,
    sheet: Annotated[Path | None, typer.Option(help="contact sheet PNG of the matches (default: none)")] = None,
    batch_size: BatchSizeOption = 64,
    device: DeviceOption = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Return the k patches that match a text best, with their cosine scores (and a contact sheet with --sheet)."""
    from bigearth.evaluation.plots import save_figure
    from bigearth.evaluation.predict import resolve_device
    from bigearth.folders.clip import load_clip_model
    from bigearth.tasks.clip.search import check_query, contact_sheet
    from bigearth.tasks.clip.search import search as run_search

    try:
        check_query(query, k)
        network, tokenizer = load_clip_model(model, device=resolve_device(device))
        result = run_search(network, tokenizer, data, query, k=k, split=split, batch_size=batch_size)
        if sheet is not None:
            save_figure(contact_sheet(network.cpu(), data, result, split=split), sheet)
    except BigEarthError as error:
        fail(error)
    if as_json:
        matches = [{"patch_id": name, "score": round(score, 6)} for name, score in
                   zip(result.patch_ids, result.scores, strict=True)]  # fmt: skip
        payload = {"model": str(model), "query": query, "searched": result.searched, "matches": matches,
                   "truncated": result.truncated, "sheet": str(sheet) if sheet else None}  # fmt: skip
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"{query}  ({result.searched} patches searched)")
    table.add_column("#", justify="right")
    table.add_column("patch")
    table.add_column("score", justify="right")
    for rank, (name, score) in enumerate(zip(result.patch_ids, result.scores, strict=True), start=1):
        table.add_row(str(rank), name, f"{score:.3f}")
    console.print(table)
    if len(result.patch_ids) < k:
        console.print(labelled("note:", "yellow", f"only {result.searched} patches to search; all are shown"))
    if result.truncated:
        console.print(labelled("note:", "yellow", f"the query was cut to {tokenizer.max_length} tokens"))
    if sheet is not None:
        console.print(f"contact sheet: {sheet}")
