"""Text commands: ``text generate``, ``text rsvqa``, ``text evaluate``, ``text stats``."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bigearth.cli.app import app, at_least, labelled
from bigearth.cli.data import console, fail, progress_bar
from bigearth.errors import BigEarthError, MetadataError

text_app = typer.Typer(help="BigEarthNet.txt and RSVQAxBEN-style texts from reference maps, and their scoring.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(text_app, name="text")

#: The columns ``text stats`` reads (RSVQAxBEN-style files name them question/answer/form, and are renamed).
STATS_COLUMNS = ("patch_id", "input", "output", "type", "category")
Workers = Annotated[int, typer.Option(callback=at_least(0), help="worker processes (0: in this process)")]
Scheduler = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address (tcp://host:8786), or 'local' for a local Dask cluster of --workers"),
]
SnowCloud = Annotated[
    bool, typer.Option("--include-snow-cloud", help="also the patches flagged for seasonal snow or cloud/shadow")
]


def _table(frame, title: str) -> Table:  # noqa: ANN001 - a pandas DataFrame
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    return table


@text_app.command()
def generate(
    data: Annotated[Path, typer.Option(help="store folder or release root")],
    out: Annotated[Path, typer.Option(help="texts parquet file to write")],
    seed: Annotated[int, typer.Option(help="random seed: same seed, same texts")] = 0,
    facts: Annotated[Path | None, typer.Option(help="facts parquet file (default: OUT.facts.parquet)")] = None,
    captions: Annotated[int, typer.Option(help="captions per patch (0..4)")] = 2,
    rephrase: Annotated[
        str | None,
        typer.Option(
            help="caption rephrasing function 'package.module:function' (str -> str). It imports that module and "
            "runs its code with your rights: pass only code you trust"
        ),
    ] = None,
    workers: Workers = 0,
    scheduler: Scheduler = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="leave out patches with a missing or invalid reference map")
    ] = False,
    include_snow_cloud: SnowCloud = False,
    limit: Annotated[int | None, typer.Option(callback=at_least(1), help="the first N patches only")] = None,
) -> None:
    """Generate BigEarthNet.txt captions, questions and detection instructions (and the facts table)."""
    from bigearth.text.generate import GenerateSettings
    from bigearth.text.generate import generate as run_generate

    settings = GenerateSettings(seed=seed, captions=captions, rephrase=rephrase, skip_invalid=skip_invalid)
    try:
        with progress_bar("generating texts") as update:
            summary = run_generate(
                data, out, facts_out=facts, settings=settings, workers=workers, scheduler=scheduler,
                include_snow_cloud=include_snow_cloud, limit=limit, progress=update,
            )  # fmt: skip
    except BigEarthError as error:
        fail(error)
    for patch_id, reason in summary.skipped[:10]:
        console.print(labelled("skipped", "yellow", f"{patch_id}: {reason}"))
    if summary.skipped:
        console.print(labelled(f"{len(summary.skipped)} patch(es) skipped", "yellow", ""))
    console.print(f"wrote {summary.texts} texts of {summary.patches} patches to {summary.texts_path}; "
                  f"facts in {summary.facts_path}")  # fmt: skip


@text_app.command()
def rsvqa(
    data: Annotated[Path, typer.Option(help="store folder or release root (its metadata is read)")],
    out: Annotated[Path, typer.Option(help="questions parquet file to write")],
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    questions: Annotated[int, typer.Option(callback=at_least(1), help="questions per image")] = 25,
    workers: Workers = 0,
    scheduler: Scheduler = None,
    include_snow_cloud: SnowCloud = False,
) -> None:
    """Generate RSVQAxBEN-style yes/no and land-cover questions from the labels."""
    from bigearth.text.rsvqa import generate_rsvqa

    try:
        with progress_bar("generating questions") as update:
            count = generate_rsvqa(data, out, seed=seed, count=questions, workers=workers, scheduler=scheduler,
                                   include_snow_cloud=include_snow_cloud, progress=update)  # fmt: skip
    except BigEarthError as error:
        fail(error)
    console.print(f"wrote {count} questions to {out}")


@text_app.command()
def evaluate(
    texts: Annotated[Path, typer.Argument(help="texts parquet file (from `bigearth text generate`)")],
    predictions: Annotated[
        Path | None, typer.Argument(help="predictions parquet or CSV file: columns ID, prediction")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="score a baseline instead of a predictions file: majority or random")
    ] = None,
    split: Annotated[str | None, typer.Option(help="score one split only (train, validation, test)")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for metrics.json, scores.csv and scores.png")] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="leave out rows with missing, unknown or malformed predictions")
    ] = False,
    seed: Annotated[int, typer.Option(help="seed of the random baseline")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Score a model's answers (or a baseline's) per type and category."""
    from bigearth.errors import ConfigError
    from bigearth.text.baselines import baseline_predictions
    from bigearth.text.evaluate import evaluate_predictions, read_table, write_report
    from bigearth.text.schema import PREDICTION_COLUMNS, TEXT_COLUMNS

    try:
        if (predictions is None) == (baseline is None):
            raise ConfigError("give either a PREDICTIONS file or --baseline majority|random")
        text_table = read_table(texts, TEXT_COLUMNS, "texts")
        if baseline is not None:
            answers = baseline_predictions(text_table, baseline, seed=seed)
        else:
            answers = read_table(predictions, PREDICTION_COLUMNS, "predictions")
        evaluation = evaluate_predictions(text_table, answers, split=split, skip_invalid=skip_invalid)
        if out is not None:
            write_report(evaluation, out)
    except BigEarthError as error:
        fail(error)
    if as_json:
        print(json.dumps(evaluation.to_json(), indent=2))
        return
    for kind, rows in evaluation.scores.groupby("type", sort=False):
        console.print(_table(rows.dropna(axis=1, how="all").drop(columns="type"), f"{kind}"))
    if evaluation.skipped:
        first_id, reason = evaluation.skipped[0]
        console.print(labelled(f"{len(evaluation.skipped)} row(s) left out,", "yellow", f"e.g. {first_id}: {reason}"))
    if out is not None:
        console.print(f"report written to {out}")


@text_app.command()
def stats(
    texts: Annotated[Path, typer.Argument(help="texts parquet file (BigEarthNet.txt or RSVQAxBEN-style)")],
    plot: Annotated[Path | None, typer.Option(help="PNG file for the plots")] = None,
) -> None:
    """Print (and plot) counts per type and category, answer balance and text lengths."""
    from bigearth.text.evaluate import read_table
    from bigearth.text.stats import normalise_columns, text_statistics, write_statistics_plot

    try:
        frame = normalise_columns(read_table(texts, (), "texts"))
        missing = [column for column in STATS_COLUMNS if column not in frame.columns]
        if missing:
            raise MetadataError(f"{texts} lacks the column(s) {missing}: it is no BigEarthNet.txt or RSVQAxBEN-style "
                                f"text file (they have {list(STATS_COLUMNS)})")  # fmt: skip
        statistics = text_statistics(frame)
        if plot is not None:
            write_statistics_plot(statistics, frame, plot)
    except BigEarthError as error:
        fail(error)
    console.print(f"{texts}: {int(statistics.counts['texts'].sum())} texts of {statistics.patches} patches")
    console.print(_table(statistics.counts, "texts per type and category"))
    console.print(_table(statistics.yes_share, "yes/no balance"))
    if len(statistics.letters):
        console.print(_table(statistics.letters.reset_index(), "right letter of multiple-choice questions"))
    console.print(_table(statistics.lengths, "lengths in words"))
    if plot is not None:
        console.print(f"plot written to {plot}")
