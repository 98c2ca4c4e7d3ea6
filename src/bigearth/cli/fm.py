"""Foundation-model commands: ``sample``, ``retrieve``, ``probe``.

``sample`` writes thematic-climatic subsets, ``retrieve`` runs image retrieval, ``probe`` a linear probe or
fine-tuning of any encoder.
"""

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bigearth.cli.app import BatchSizeOption, DeviceOption, app, at_least
from bigearth.cli.data import console, fail, progress_bar
from bigearth.errors import BigEarthError, ConfigError


@app.command()
def sample(
    data: Annotated[Path, typer.Option(help="store folder or release root")],
    size: Annotated[int, typer.Option(callback=at_least(1), help="patches to select")],
    out: Annotated[Path, typer.Option(help="ids file to write (parquet; a .report.json is written beside it)")],
    split: Annotated[str, typer.Option(help="split to sample (train for pretraining), or 'all'")] = "train",
    theme: Annotated[
        str, typer.Option(help="land-cover descriptor: labels (rarest label) or maps (dominant class)")
    ] = "labels",
    power: Annotated[float, typer.Option(help="allocation exponent: 1 = proportional, 0 = equal shares")] = 0.5,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Select a representative, diverse pretraining subset balanced over climate zones and land cover."""
    from bigearth.sampling.sample import sample_archive

    try:
        with progress_bar("reading reference maps") if theme == "maps" else nullcontext() as update:
            result = sample_archive(data, size, out, split=None if split == "all" else split, theme=theme,
                                    power=power, seed=seed, progress=update)  # fmt: skip
    except BigEarthError as error:
        fail(error)
    report = result.report
    table = Table(title=f"{size} of {report['archive_size']} patches against the archive",
                  caption="TV: total variation distance (0 = same distribution); coverage: share of the archive's "
                          "values the subset holds", caption_justify="left")  # fmt: skip
    table.add_column("descriptor")
    for kind in ("thematic-climatic", "uniform random"):
        table.add_column(f"{kind} TV", justify="right")
        table.add_column("coverage", justify="right")
    for name in ("climate_zone", "land_cover", "cell"):
        values = [f"{report[kind][name][m]:.3f}" for kind in ("thematic_climatic", "uniform_random")
                  for m in ("total_variation", "coverage")]  # fmt: skip
        table.add_row(name.replace("_", " "), *values)
    console.print(table)
    console.print(f"wrote {result.ids_file} and {result.report_file}")


@app.command()
def retrieve(
    model: Annotated[Path, typer.Argument(help="model folder or run folder (a CSMAE/CSMoE model or a classifier)")],
    data: Annotated[Path, typer.Option(help="store folder or release root")],
    query: Annotated[str | None, typer.Option(help="patch id to query with")] = None,
    evaluate: Annotated[bool, typer.Option("--evaluate", help="query with every patch of --query-split")] = False,
    protocol: Annotated[
        str,
        typer.Option(
            help="csmae (validation queries, test archive, label-overlap P/R/F1) or map (test "
            "queries, training archive, binary relevance, mAP@k)"
        ),
    ] = "csmae",
    k: Annotated[int, typer.Option(callback=at_least(1), help="results per query")] = 10,
    query_split: Annotated[str | None, typer.Option(help="split of the queries (default: the protocol's)")] = None,
    archive_split: Annotated[str | None, typer.Option(help="split searched (default: the protocol's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    batch_size: BatchSizeOption = 64,
    device: DeviceOption = "auto",
) -> None:
    """Content-based image retrieval: S1->S1, S2->S2, S1->S2, S2->S1 for a cross-sensor model."""
    from bigearth.evaluation.predict import resolve_device
    from bigearth.folders.encoders import load_encoder
    from bigearth.retrieval.evaluate import evaluate_retrieval, get_protocol, query_patch, scores_table_rows

    try:
        chosen = get_protocol(protocol)
        if (query is None) == (not evaluate):
            raise ConfigError("pass either --query PATCH_ID or --evaluate")
        query_split, archive_split = query_split or chosen.query_split, archive_split or chosen.archive_split
        encoder = load_encoder(model, device=resolve_device(device))
        if evaluate:
            scores = evaluate_retrieval(encoder, data, protocol=protocol, k=k, query_split=query_split,
                                        archive_split=archive_split, batch_size=batch_size)  # fmt: skip
            rows = scores_table_rows(scores)
        else:
            labels, hits = query_patch(encoder, data, query, k=k, archive_split=archive_split,  # type: ignore[arg-type]
                                       batch_size=batch_size)  # fmt: skip
    except BigEarthError as error:
        fail(error)
    if evaluate:
        if as_json:
            typer.echo(json.dumps({"model": str(model), "data": str(data), "protocol": protocol, "k": k,
                                   "queries": query_split, "archive": archive_split, "results": rows,
                                   "definitions": chosen.definitions}, indent=2))  # fmt: skip
            return
        table = Table(title=f"retrieval@{k}, protocol {protocol}: {query_split} queries in the {archive_split} "
                            "archive")  # fmt: skip
        metrics = [column for column in rows[0] if column not in ("direction", "k", "queries")]
        for column in ("direction", *metrics, "queries"):
            table.add_column(column, justify="left" if column == "direction" else "right")
        for row in rows:
            table.add_row(row["direction"], *(f"{row[c]:.4f}" for c in metrics), str(row["queries"]))
        console.print(table)
        for name, text in chosen.definitions.items():
            console.print(f"{name}: {text}")
        return
    if as_json:
        payload = {name: [hit.__dict__ for hit in found] for name, found in hits.items()}
        typer.echo(json.dumps({"query": query, "labels": labels, "results": payload}, indent=2))
        return
    console.print(f"query {query}: {', '.join(labels)}")
    for name, found in hits.items():
        table = Table(title=name)
        for column in ("rank", "patch", "similarity", "relevant", "labels"):
            table.add_column(column)
        for hit in found:
            table.add_row(str(hit.rank), hit.patch_id, f"{hit.similarity:.3f}", "yes" if hit.relevant else "no",
                          ", ".join(hit.labels))  # fmt: skip
        console.print(table)


@app.command()
def probe(
    model: Annotated[Path, typer.Argument(help="model folder or run folder (a CSMAE/CSMoE model or a classifier)")],
    data: Annotated[Path, typer.Option(help="store folder or release root")],
    protocol: Annotated[str, typer.Option(help="linear (frozen features) or finetune (end to end)")] = "linear",
    epochs: Annotated[int, typer.Option(callback=at_least(1), help="fine-tuning epochs")] = 5,
    steps: Annotated[int, typer.Option(callback=at_least(1), help="linear probe optimisation steps")] = 300,
    random: Annotated[bool, typer.Option("--random", help="re-initialise the encoder (the baseline)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    batch_size: Annotated[
        int | None, typer.Option(callback=at_least(1), help="patches per batch (default: 64 linear, 32 finetune)")
    ] = None,
    device: DeviceOption = "auto",
) -> None:
    """Scene classification on top of any encoder: a linear probe or fine-tuning; prints test metrics."""
    from bigearth.evaluation.predict import resolve_device
    from bigearth.evaluation.report import report_table
    from bigearth.folders.encoders import load_encoder
    from bigearth.tasks.mae.finetune import fine_tune
    from bigearth.tasks.mae.probe import linear_probe

    try:
        if protocol not in ("linear", "finetune"):
            raise ConfigError(f"unknown protocol {protocol!r}: use linear or finetune")
        chosen = resolve_device(device)
        encoder = load_encoder(model, device=chosen)
        if random:
            encoder = encoder.reinitialised()
        sizes = {"batch_size": batch_size} if batch_size else {}
        report = (linear_probe(encoder, data, steps=steps, **sizes).test if protocol == "linear"
                  else fine_tune(encoder, data, epochs=epochs, accelerator="cpu" if chosen.type == "cpu" else "gpu",
                                 **sizes))  # fmt: skip
    except BigEarthError as error:
        fail(error)
    if as_json:
        typer.echo(json.dumps({"model": str(model), "protocol": protocol, "random": random, **report.to_dict()},
                              indent=2))  # fmt: skip
    else:
        console.print(report_table(report, title=f"{model}: {protocol} ({'random' if random else 'pretrained'})"))
