"""The original RSVQAxBEN question files: hand-written JSON in the released structure (as ConfigILM's reader reads
it), mapped to reBEN patches through both metadata files, split kept, read by the VQA data module."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bigearth.cli import text as _text  # noqa: F401  (registers the text commands)
from bigearth.cli.app import app
from bigearth.data.layout import METADATA_FILE, SNOW_CLOUD_METADATA_FILE
from bigearth.errors import CorruptDataError, MetadataError
from bigearth.models.vqa.tokenizer import QuestionTokenizer
from bigearth.tasks.vqa.data import VQADataModule
from bigearth.text.rsvqa_import import import_rsvqaxben
from bigearth.text.schema import RSVQA_COLUMNS

UNKNOWN_V1 = "S2A_MSIL2A_20170613T101031_99_99"


@pytest.fixture(scope="module")
def patches(mini_store: Path) -> pd.DataFrame:
    """Three clear patches of different reBEN splits and one snowy or cloudy patch (only in the second file)."""
    clear = pd.read_parquet(mini_store / METADATA_FILE)
    flagged = pd.read_parquet(mini_store / SNOW_CLOUD_METADATA_FILE)
    assert len(flagged), "the mini-reBEN needs a snowy or cloudy patch"
    picked = [clear[clear["split"] == split].iloc[0] for split in ("train", "validation", "test")]
    return pd.DataFrame([*picked, flagged.iloc[0]]).reset_index(drop=True)


def write_files(folder: Path, patches: pd.DataFrame) -> list[Path]:
    """RSVQAxBEN_QA_{train,val,test}.json: question id -> {type, question, answer, S2_name}, as released."""
    v1 = list(patches["s2v1_name"])
    questions = {
        "train": {
            "101": {"type": "presence", "question": "Are there some water bodies?", "answer": "no", "S2_name": v1[0]},
            "102": {
                "type": "LC",
                "question": "What are the land cover classes?",
                "answer": "mixed forest and water bodies",
                "S2_name": v1[0],
            },
            "103": {"type": "presence", "question": "Is there a forest?", "answer": "yes", "S2_name": v1[3]},
            "104": {"type": "presence", "question": "Is there a beach?", "answer": "no", "S2_name": UNKNOWN_V1},
        },
        # the original split is by latitude: a patch in reBEN's test split may hold validation questions
        "val": {
            "201": {"type": "LC", "question": "Which water bodies are present?", "answer": "None", "S2_name": v1[2]}
        },
        "test": {
            "301": {"type": "presence", "question": "Are there some pastures?", "answer": "yes", "S2_name": v1[1]}
        },
    }
    files = []
    for split, content in questions.items():
        files.append(folder / f"RSVQAxBEN_QA_{split}.json")
        files[-1].write_text(json.dumps(content))
    return files


def test_import_maps_v1_names_and_keeps_the_split(mini_store: Path, patches: pd.DataFrame, tmp_path: Path) -> None:
    files = write_files(tmp_path, patches)
    summary = import_rsvqaxben(files, mini_store, tmp_path / "qa.parquet")
    assert (summary.questions, summary.matched_questions, summary.images, summary.matched_images) == (6, 5, 5, 4)
    assert summary.unmatched_example == UNKNOWN_V1
    assert summary.per_split == {"train": 3, "validation": 1, "test": 1}
    frame = pd.read_parquet(tmp_path / "qa.parquet").set_index("ID")
    assert tuple(frame.reset_index().columns) == RSVQA_COLUMNS
    expected = {
        "101": (0, "train", "yes/no", "presence", "no"),
        "102": (0, "train", "land cover", "LC", "mixed forest and water bodies"),
        "103": (3, "train", "yes/no", "presence", "yes"),
        "201": (2, "validation", "land cover", "LC", "None"),
        "301": (1, "test", "yes/no", "presence", "yes"),
    }
    assert set(frame.index) == set(expected)
    for question_id, (patch, split, kind, form, answer) in expected.items():
        row = frame.loc[question_id]
        assert (row["patch_id"], row["s1_name"]) == (patches.loc[patch, "patch_id"], patches.loc[patch, "s1_name"])
        assert (row["split"], row["type"], row["form"], row["answer"]) == (split, kind, form, answer)
    # the VQA data module reads it unchanged: questions by their own split, images whatever reBEN's split
    data = VQADataModule(
        mini_store, tmp_path / "qa.parquet", 10, tokenizer=QuestionTokenizer(), num_answers=10, include_snow_cloud=True
    )
    assert {split: data.dataset(split).num_questions for split in ("train", "validation", "test")} == {
        "train": 3,
        "validation": 1,
        "test": 1,
    }
    assert data.dataset("validation")[0]["patch_id"] == [patches.loc[2, "patch_id"]]


def test_bad_question_files(mini_store: Path, patches: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "qa.parquet"
    train = tmp_path / "RSVQAxBEN_QA_train.json"
    cases = [
        (
            {"7": {"type": "presence", "question": "Is there a lake?", "S2_name": "x"}},
            CorruptDataError,
            r"question '7' lacks the key\(s\) \['answer'\]",
        ),
        (
            {"7": {"type": "count", "question": "How many?", "answer": "2", "S2_name": "x"}},
            MetadataError,
            r"type outside \['presence', 'LC'\]",
        ),
        ({}, MetadataError, "no question"),
        (
            {"7": {"type": "presence", "question": "Is there a lake?", "answer": "no", "S2_name": UNKNOWN_V1}},
            MetadataError,
            "none of the 1 images",
        ),
    ]
    for content, error, message in cases:
        train.write_text(json.dumps(content))
        with pytest.raises(error, match=message):
            import_rsvqaxben([train], mini_store, out)
    train.write_text("[1, 2]")
    with pytest.raises(CorruptDataError, match="no JSON object"):
        import_rsvqaxben([train], mini_store, out)
    other = tmp_path / "questions.json"
    other.write_text("{}")
    with pytest.raises(MetadataError, match="file name"):
        import_rsvqaxben([other], mini_store, out)
    assert not out.exists()  # nothing written half


def test_command(mini_store: Path, patches: pd.DataFrame, tmp_path: Path) -> None:
    files = write_files(tmp_path, patches)
    result = CliRunner().invoke(
        app,
        ["text", "rsvqa-import", *map(str, files), "--data", str(mini_store), "--out", str(tmp_path / "qa.parquet")],
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "read 6 questions about 5 images; 4 images (5 questions) found a reBEN patch" in output
    assert f"1 question(s) about 1 image(s) not in the metadata left out, e.g. {UNKNOWN_V1}" in output
