"""Text commands: ``text generate``, ``text rsvqa``, ``text rsvqa-import``, ``text evaluate``, ``text stats``."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bigearth.cli.app import app, at_least, labelled
from bigearth.cli.data import console, fail, progress_bar
from bigearth.errors import BigEarthError

if TYPE_CHECKING:
    from bigearth.text.evaluate import Evaluation

text_app = typer.Typer(help="BigEarthNet.txt and RSVQAxBEN-style texts from reference maps, and their scoring.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(text_app, name="text")

#: The columns ``text stats`` reads (RSVQAxBEN-style files name them question/answer/form, and are renamed).
Workers = Annotated[int, typer.Option(callback=at_least(0), help="worker processes (0: in this process)")]
Scheduler = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address (tcp://host:8786), or 'local' for a local Dask cluster of --workers"),
]
SnowCloud = Annotated[
    bool, typer.Option("--include-snow-cloud", help="also the patches flagged for seasonal snow or cloud/shadow")
]


def _print_unknown(categories: dict[str, int]) -> None:
    """Print the rows per category outside the released ones (scored and counted under their own name)."""
    if categories:
        listed = ", ".join(f"{name!r}: {count}" for name, count in categories.items())
        outside = "categories outside the released ones"
        console.print(labelled(outside, "yellow", f"(scored under their own name): {listed}"))


def frame_table(frame, title: str) -> Table:  # noqa: ANN001 - a pandas DataFrame
    """Return a rich table of a data frame, floats with 3 decimals."""
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
    mix: Annotated[
        str,
        typer.Option(
            help="question mix: original (RSVQAxBEN's: about 81 % yes/no, 39 % of them yes) or balanced "
            "(half land cover, yes/no balanced)"
        ),
    ] = "original",
    workers: Workers = 0,
    scheduler: Scheduler = None,
    include_snow_cloud: SnowCloud = False,
) -> None:
    """Generate RSVQAxBEN-style yes/no and land-cover questions from the labels."""
    from bigearth.text.rsvqa import generate_rsvqa

    try:
        with progress_bar("generating questions") as update:
            count = generate_rsvqa(data, out, seed=seed, count=questions, mix=mix, workers=workers,
                                   scheduler=scheduler, include_snow_cloud=include_snow_cloud,
                                   progress=update)  # fmt: skip
    except BigEarthError as error:
        fail(error)
    console.print(f"wrote {count} questions ({mix} mix) to {out}")


@text_app.command("rsvqa-import")
def rsvqa_import(
    files: Annotated[list[Path], typer.Argument(help="the original RSVQAxBEN_QA_{train,val,test}.json files")],
    data: Annotated[Path, typer.Option(help="store folder or release root whose metadata maps the v1 names")],
    out: Annotated[Path, typer.Option(help="questions parquet file to write (for data.questions)")],
) -> None:
    """Import the original RSVQAxBEN questions, mapping each v1 image to its reBEN patch, keeping their split."""
    from bigearth.text.rsvqa_import import import_rsvqaxben

    try:
        summary = import_rsvqaxben(files, data, out)
    except BigEarthError as error:
        fail(error)
    found = f"{summary.matched_images} images ({summary.matched_questions} questions) found a reBEN patch"
    console.print(f"read {summary.questions} questions about {summary.images} images; {found}")
    if summary.unmatched_example is not None:
        left_out = (f"{summary.questions - summary.matched_questions} question(s) about "
                    f"{summary.images - summary.matched_images} image(s) not in the metadata left out,")  # fmt: skip
        console.print(labelled(left_out, "yellow", f"e.g. {summary.unmatched_example}"))
    splits = ", ".join(f"{name} {count}" for name, count in summary.per_split.items())
    console.print(f"wrote {summary.matched_questions} questions ({splits}) to {out}")


@text_app.command()
def evaluate(
    texts: Annotated[Path, typer.Argument(help="texts parquet file (from `bigearth text generate`)")],
    predictions: Annotated[
        Path | None, typer.Argument(help="predictions parquet or CSV file: columns ID, prediction")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="score a baseline instead of a predictions file: majority or random")
    ] = None,
    split: Annotated[str | None, typer.Option(help="score one split only (train, validation, test, bench)")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for metrics.json, scores.csv and scores.png")] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="leave out (and count) missing, unknown or malformed predictions"),
    ] = False,
    seed: Annotated[int, typer.Option(help="seed of the random baseline")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Score a model's answers (or a baseline's) per type and category.

    The texts file may be the released BigEarthNet.txt parquet as it is (read in batches) or a file of
    `bigearth text generate`.
    """
    from bigearth.errors import ConfigError
    from bigearth.text.baselines import baseline_predictions
    from bigearth.text.evaluate import evaluate_file, read_predictions, write_report
    from bigearth.text.reader import read_texts

    try:
        if (predictions is None) == (baseline is None):
            raise ConfigError("give either a PREDICTIONS file or --baseline majority|random")
        if baseline is not None:
            answers = baseline_predictions(read_texts(texts), baseline, seed=seed)
        else:
            answers = read_predictions(predictions)
        evaluation = evaluate_file(texts, answers, split=split, skip_invalid=skip_invalid)
        if out is not None:
            write_report(evaluation, out)
    except BigEarthError as error:
        fail(error)
    if as_json:
        print(json.dumps(evaluation.to_json(), indent=2))
        return
    print_scores(evaluation)
    if out is not None:
        console.print(f"report written to {out}")


def print_scores(evaluation: "Evaluation") -> None:
    """Print the score tables of an evaluation, one per text type, and what was counted or left out."""
    for kind, rows in evaluation.scores.groupby("type", sort=False):
        console.print(frame_table(rows.dropna(axis=1, how="all").drop(columns="type"), f"{kind}"))
    if evaluation.caption_backend is not None:
        console.print(f"captions scored by {evaluation.caption_backend}")
    _print_unknown(evaluation.unknown_categories)
    if evaluation.skipped:
        first_id, reason = evaluation.skipped[0]
        console.print(labelled(f"{len(evaluation.skipped)} row(s) left out,", "yellow", f"e.g. {first_id}: {reason}"))


@text_app.command()
def stats(
    texts: Annotated[Path, typer.Argument(help="texts parquet file (BigEarthNet.txt or RSVQAxBEN-style)")],
    plot: Annotated[Path | None, typer.Option(help="PNG file for the plots")] = None,
) -> None:
    """Print (and plot) counts per type and category, answer balance and text lengths (files read in batches)."""
    from bigearth.text.stats import file_statistics, write_statistics_plot

    try:
        statistics = file_statistics(texts)
        if plot is not None:
            write_statistics_plot(statistics, plot)
    except BigEarthError as error:
        fail(error)
    console.print(f"{texts}: {int(statistics.counts['texts'].sum())} texts of {statistics.patches} patches")
    console.print(frame_table(statistics.counts, "texts per type and category"))
    console.print(frame_table(statistics.yes_share, "yes/no balance"))
    if len(statistics.letters):
        console.print(
            frame_table(
                statistics.letters.rename_axis("category").reset_index(), "right letter of multiple-choice questions"
            )
        )
    console.print(frame_table(statistics.lengths, "lengths in words"))
    _print_unknown(statistics.unknown_categories)
    if plot is not None:
        console.print(f"plot written to {plot}")
