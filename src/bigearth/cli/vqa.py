"""Visual question answering command: ``ask``."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bigearth.cli.app import DeviceOption, app, at_least, labelled
from bigearth.cli.data import console, fail
from bigearth.errors import BigEarthError


@app.command(context_settings={"allow_interspersed_args": True})
def ask(
    model: Annotated[Path, typer.Argument(help="VQA model folder, or a run folder (its model/)")],
    question: Annotated[str, typer.Argument(help='the question, e.g. "Is there arable land in the image?"')],
    data: Annotated[Path | None, typer.Option(help="store folder or release root holding the patch")] = None,
    patch_id: Annotated[str | None, typer.Option("--id", help="S2 patch id of the patch in --data")] = None,
    s2_dir: Annotated[Path | None, typer.Option(help="S2 patch folder (<patch>/<patch>_B02.tif ...)")] = None,
    s1_dir: Annotated[Path | None, typer.Option(help="S1 patch folder, for models that read S1")] = None,
    top: Annotated[int, typer.Option(callback=at_least(1), help="answers to show")] = 5,
    device: DeviceOption = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Answer a question about one patch; prints the top answers with their scores (sigmoid of each logit)."""
    from bigearth.evaluation.predict import resolve_device
    from bigearth.folders.vqa import load_vqa_model
    from bigearth.tasks.vqa.ask import ask as answer_questions
    from bigearth.tasks.vqa.ask import patch_groups

    try:
        network, tokenizer = load_vqa_model(model, device=resolve_device(device))
        name, groups = "-", None
        if network.uses_image or data is not None or s2_dir is not None or s1_dir is not None:
            name, groups = patch_groups(network, data=data, patch_id=patch_id, s2_dir=s2_dir, s1_dir=s1_dir)
        (result,) = answer_questions(network, tokenizer, [question], groups, top=max(1, top))
    except BigEarthError as error:
        fail(error)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "model": str(model),
                    "patch": name,
                    "question": question,
                    "answers": [{"answer": a, "score": round(s, 6)} for a, s in result.answers],
                    "truncated": result.truncated,
                    "unknown_tokens": result.unknown_tokens,
                },
                indent=2,
            )
        )
        return  # fmt: skip
    table = Table(title=f"{question}  ({name})")
    table.add_column("#", justify="right")
    table.add_column("answer")
    table.add_column("score", justify="right")
    for rank, (answer, score) in enumerate(result.answers, start=1):
        table.add_row(str(rank), answer, f"{score:.3f}", style="bold" if rank == 1 else None)
    console.print(table)
    if result.truncated:
        console.print(labelled("note:", "yellow", f"the question was cut to {tokenizer.max_length} tokens: "
                                                  f"{' '.join(result.tokens)}"))  # fmt: skip
    if result.unknown_tokens:
        console.print(labelled("note:", "yellow", f"{result.unknown_tokens} word piece(s) are outside the vocabulary "
                                                  f"and were read as [UNK]: {' '.join(result.tokens)}"))  # fmt: skip
    if not network.uses_image:
        console.print(labelled("note:", "yellow", "a question-only model: the answer does not depend on the image"))
