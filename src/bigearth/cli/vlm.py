"""Vision-language model commands: ``vlm finetune``, ``vlm predict``, ``vlm evaluate``, ``vlm compare``."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from bigearth.cli.app import DeviceOption, app, at_least, labelled
from bigearth.cli.data import console, fail
from bigearth.cli.text import frame_table, print_scores
from bigearth.cli.train import OverridesArgument, PrintConfigOption
from bigearth.errors import BigEarthError

vlm_app = typer.Typer(help="Vision-language models on BigEarthNet.txt: fine-tune, generate answers, score them.",
                      no_args_is_help=True)  # fmt: skip
app.add_typer(vlm_app, name="vlm")

ModelArgument = Annotated[
    Path, typer.Argument(help="image-text-to-text checkpoint folder (save_pretrained; fine-tuned or not) or VLM folder")
]
DataOption = Annotated[Path, typer.Option(help="store folder or release root holding the texts' patches")]
TextsOption = Annotated[Path, typer.Option(help="BigEarthNet.txt parquet file (released or `text generate`)")]
SplitOption = Annotated[str, typer.Option(help="split answered: train, validation, test or bench")]
TypesOption = Annotated[
    list[str] | None, typer.Option("--type", help="text type to answer (repeat; default: every type of the split)")
]
LimitOption = Annotated[int | None, typer.Option(callback=at_least(1), help="answer the split's first N texts only")]
TokensOption = Annotated[int, typer.Option(callback=at_least(1), help="the most tokens generated per answer")]
BatchSizeOption = Annotated[int, typer.Option(callback=at_least(1), help="texts answered per generation batch")]


@vlm_app.command()
def finetune(
    config: Annotated[Path, typer.Argument(help="fine-tuning recipe (configs/vlm/hf-*.yaml)")],
    overrides: OverridesArgument = None,
    model: Annotated[Path | None, typer.Option(help="checkpoint folder to fine-tune (model.checkpoint)")] = None,
    data: Annotated[Path | None, typer.Option(help="store folder or release root (data.path)")] = None,
    texts: Annotated[Path | None, typer.Option(help="BigEarthNet.txt parquet file (data.texts)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="run folder (default runs/<name>-<time>); resumes if unfinished")
    ] = None,
    print_config: PrintConfigOption = False,
) -> None:
    """Fine-tune a local image-text-to-text checkpoint (LoRA by default) on every text type at once."""
    from bigearth.tasks.vlm.finetune import finetune as run_finetune
    from bigearth.tasks.vlm.finetune import load_finetune_recipe

    given = {"model.checkpoint": model, "data.path": data, "data.texts": texts}
    extra = [f"{key}={value}" for key, value in given.items() if value is not None]
    try:
        recipe = load_finetune_recipe(config, [*(overrides or []), *extra])
        if print_config:
            typer.echo(yaml.safe_dump(recipe.to_dict(), sort_keys=False).rstrip())
            return
        run = run_finetune(recipe, out=out)
    except BigEarthError as error:
        fail(error)
    console.print(f"finished: the fine-tuned checkpoint is {run.model_dir}; metrics in {run.metrics_file}")


def _print_unparsable(unparsable: dict[str, int]) -> None:
    counts = ", ".join(f"{kind} {count}" for kind, count in unparsable.items() if count)
    if counts:
        console.print(labelled("unparsable generations:", "yellow", f"{counts} (boxes scored as no box)"))


@dataclass(frozen=True)
class Generation:
    """What ``vlm predict`` and ``vlm evaluate`` are given besides their output: a model answering a split's texts.

    Attributes:
        model: checkpoint folder or VLM folder.
        data: store folder or release root of the texts' patches.
        texts: BigEarthNet.txt parquet file.
        device: ``auto``, ``cpu``, ``cuda``...
        options: the split, text types, limit, batch size and generation length, as keyword arguments of
            :func:`bigearth.tasks.vlm.predict.predict` and :func:`~bigearth.tasks.vlm.predict.evaluate`.
    """

    model: Path
    data: Path
    texts: Path
    device: str
    options: dict[str, Any]

    def generator(self):  # noqa: ANN201  (a TextGenerator; imported lazily)
        """Load the model as a text generator on the device."""
        from bigearth.evaluation.predict import resolve_device
        from bigearth.tasks.vlm.load import load_generator

        return load_generator(self.model, device=resolve_device(self.device))


def generation_command(out_help: str) -> Callable[[Callable[[Generation, Path], None]], Callable[..., None]]:
    """Register ``body(generation, out)`` as a ``vlm`` command with the options every generating command takes.

    Args:
        out_help: the help of ``--out`` (what the command writes there).
    """

    def register(body: Callable[[Generation, Path], None]) -> Callable[..., None]:
        def command(
            model: ModelArgument,
            data: DataOption,
            texts: TextsOption,
            out: Annotated[Path, typer.Option(help=out_help)],
            split: SplitOption = "test",
            types: TypesOption = None,
            limit: LimitOption = None,
            batch_size: BatchSizeOption = 8,
            max_new_tokens: TokensOption = 64,
            device: DeviceOption = "auto",
        ) -> None:
            options = {"split": split, "types": types, "limit": limit, "batch_size": batch_size,
                       "max_new_tokens": max_new_tokens}  # fmt: skip
            body(Generation(model, data, texts, device, options), out)

        command.__name__, command.__qualname__, command.__doc__ = body.__name__, body.__qualname__, body.__doc__
        return vlm_app.command()(command)

    return register


@generation_command("predictions parquet file to write (ID, prediction, generation)")
def predict(generation: Generation, out: Path) -> None:
    """Generate answers for a split (batched, greedy) and write the predictions file `text evaluate` scores."""
    from bigearth.tasks.vlm.predict import predict as run_predict
    from bigearth.tasks.vlm.predict import summary_file

    try:
        summary = run_predict(generation.generator(), generation.data, generation.texts, out, **generation.options)
    except BigEarthError as error:
        fail(error)
    console.print(f"{summary.rows} answers of split {summary.split} in {out} ({summary.seconds:.1f} s); summary in "
                  f"{summary_file(out)}")  # fmt: skip
    _print_unparsable(summary.unparsable)


@generation_command("report folder: predictions, scores.csv, metrics.json, scores.png")
def evaluate(generation: Generation, out: Path) -> None:
    """Generate answers for a split, score them per type and category, write the table and the figure."""
    from bigearth.tasks.vlm.predict import evaluate as run_evaluate

    try:
        evaluation, summary = run_evaluate(generation.generator(), generation.data, generation.texts, out,
                                           **generation.options)  # fmt: skip
    except BigEarthError as error:
        fail(error)
    print_scores(evaluation)
    _print_unparsable(summary.unparsable)
    console.print(f"report written to {out}")


@vlm_app.command()
def compare(
    reports: Annotated[
        list[Path], typer.Argument(help="report folders of `vlm evaluate` (e.g. zero-shot, fine-tuned)")
    ],
    name: Annotated[
        list[str] | None, typer.Option(help="a column name per report (repeat; default: folder names)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="CSV file for the table (and the figure beside it, .png)")] = None,
) -> None:
    """Headline scores of several reports side by side: the paper's zero-shot vs fine-tuned table."""
    from bigearth.tasks.vlm.compare import compare_reports, write_comparison

    try:
        table = compare_reports(reports, name)
        if out is not None:
            write_comparison(table, out)
    except BigEarthError as error:
        fail(error)
    console.print(frame_table(table, "BigEarthNet.txt scores side by side"))
    if out is not None:
        console.print(f"table written to {out}, figure to {out.with_suffix('.png')}")
