"""The task registry: one table from a recipe's ``task`` to how it is read, trained and stored."""

import subprocess
import sys
from pathlib import Path

import pytest

from bigearth.cli.train import TASK_LIST
from bigearth.errors import ConfigError, MissingDataError
from bigearth.folders.format import FOLDER_TASKS
from bigearth.tasks.registry import DEFAULT_TASK, TASKS, recipe_task

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_names_functions_that_exist_and_a_folder_kind(name: str) -> None:
    task = TASKS[name]
    roles = ["recipe", "train", *(["report"] if task.report else [])]
    assert all(callable(task.function(role)) for role in roles)
    assert task.folder in FOLDER_TASKS
    assert (CONFIGS.parent / task.recipes).is_dir()


def test_every_published_recipe_names_a_registered_task_and_parses() -> None:
    recipes = sorted(CONFIGS.rglob("*.yaml"))
    assert len(recipes) > 40
    needs = {"segmentation": ["model.encoder=runs/encoder"]}  # what the recipe leaves to the command line
    for recipe in recipes:
        task = TASKS[recipe_task(recipe)]
        task.function("recipe")(recipe, needs.get(task.name, []))  # raises for a recipe its task cannot read


def test_recipe_task_reads_recipes_and_run_folders(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text("model: {backbone: resnet18}\n")
    assert recipe_task(tmp_path / "plain.yaml") == DEFAULT_TASK == "classification"
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("task: vqa\nname: run\n")
    assert recipe_task(run) == "vqa"


def test_recipe_task_refuses_what_is_no_recipe(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("task: detection\n")
    with pytest.raises(ConfigError, match=r"detection' is no bigearth task; tasks are \['classification', 'clip'"):
        recipe_task(tmp_path / "other.yaml")
    (tmp_path / "typo.yaml").write_text("task: clasification\n")
    with pytest.raises(ConfigError, match=r"\(did you mean 'classification'\?\)"):
        recipe_task(tmp_path / "typo.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="not a mapping"):
        recipe_task(tmp_path / "list.yaml")
    with pytest.raises(MissingDataError, match="does not exist"):
        recipe_task(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="no run folder"):
        recipe_task(tmp_path)


def test_the_command_line_lists_every_task_and_runs_as_a_module() -> None:
    assert TASK_LIST.split(", ") == list(TASKS)
    result = subprocess.run([sys.executable, "-m", "bigearth", "pretrain", "--help"], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert "same as `bigearth train`" in result.stdout
    assert "csmae" in result.stdout
