"""``bigearth train`` (and its alias ``bigearth pretrain``): any task, dispatched on the recipe's ``task`` key.

The tasks and how each trains are :mod:`bigearth.tasks.registry`'s; this module only parses the command line.
"""

from pathlib import Path
from typing import Annotated

import typer
import yaml

from bigearth.cli.app import app
from bigearth.cli.data import console, fail
from bigearth.errors import BigEarthError

TASK_LIST = "classification, segmentation, vqa, ssl, csmae, vlm, vlm-hf"
CONFIG_HELP = f"YAML recipe (its `task`: {TASK_LIST}), run folder to resume, or packaged recipe (`bigearth configs`)"
#: The dotted ``key=value`` overrides that follow the recipe.
OverridesArgument = Annotated[
    list[str] | None, typer.Argument(help="dotted key=value overrides, e.g. model.lr=5e-4 trainer.max_epochs=3")
]
#: ``--print-config``: the resolved recipe instead of a run.
PrintConfigOption = Annotated[
    bool, typer.Option("--print-config", help="print the resolved recipe (file, overrides, --data) as YAML and exit")
]


#: What ``--help`` of the training verbs says about recipes.
RECIPE_HELP = (
    "A recipe is YAML with the sections task, seed_everything, trainer (lightning.Trainer arguments, plus logger and "
    "callbacks as class_path/init_args entries), model, data, optimizer, scheduler and the task's own (classification: "
    "early_stopping; ssl: augment, georank, evaluation...); --print-config shows them all, resolved."
)


def run_recipe(config: Path, overrides: list[str], data: Path | None, out: Path | None, *, print_config: bool) -> None:
    """Train (or resume) through the task registry and print where the run is and, if the task has one, its report.

    With ``print_config``, print the resolved recipe (file or run folder, overrides, ``--data``) as YAML instead:
    what the run's ``config.yaml`` would hold; nothing is trained and no folder is made.
    """
    from bigearth.recipes import resolve_recipe
    from bigearth.tasks.registry import TASKS, read_task_recipe, recipe_task, train_recipe

    try:
        config = resolve_recipe(config)
        task = TASKS[recipe_task(config)]
        if print_config:
            recipe = read_task_recipe(config, data=data, overrides=overrides)
            typer.echo(yaml.safe_dump(recipe.to_dict(), sort_keys=False).rstrip())
            return
        run = train_recipe(config, data=data, out=out, overrides=overrides)
    except BigEarthError as error:
        fail(error)
    from lightning.fabric.utilities.rank_zero import rank_zero_only  # lazily: `bigearth info` needs no torch

    if rank_zero_only.rank == 0:  # one message, not one per DDP process
        console.print(f"finished: model, metrics and plots in {run}")
        if task.report is not None:
            console.print(task.function("report")(run))


@app.command(context_settings={"allow_interspersed_args": True}, epilog=RECIPE_HELP)
def train(
    config: Annotated[Path, typer.Argument(help=CONFIG_HELP)],
    overrides: OverridesArgument = None,
    data: Annotated[Path | None, typer.Option(help="store folder or release root (sets data.path)")] = None,
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/<config name>-<timestamp>)")] = None,
    print_config: PrintConfigOption = False,
) -> None:
    """Train any task as its recipe says; an interrupted run in --out (or a run folder as CONFIG) is resumed."""
    run_recipe(config, list(overrides or []), data, out, print_config=print_config)


#: The alias kept for SSL and CSMAE/CSMoE recipes: the recipe's task decides what runs.
app.command(
    "pretrain",
    context_settings={"allow_interspersed_args": True},
    epilog=RECIPE_HELP,
    help="The same as `bigearth train` (kept for SSL and CSMAE/CSMoE recipes): the recipe's task decides.",
)(train)
