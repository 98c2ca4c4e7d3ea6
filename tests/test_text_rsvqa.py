"""RSVQAxBEN-style questions: answers checked against the metadata labels, 25 per image, the original mix by
default (shares from RSVQAxBEN's published answer counts) or a balanced one."""

from pathlib import Path

import pandas as pd
import pytest

from bigearth.data.metadata import read_metadata
from bigearth.errors import ConfigError
from bigearth.nomenclature import CLASS_CODES
from bigearth.text.rsvqa import CHUNK_PATCHES, generate_rsvqa
from bigearth.text.schema import RSVQA_COLUMNS

GROUPS = {"artificial surfaces": "1", "agricultural areas": "2", "forests and semi-natural areas": "3",
          "wetlands": "4", "water bodies": "5"}  # fmt: skip


@pytest.fixture(scope="module")
def questions(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("rsvqa") / "qa.parquet"
    count = generate_rsvqa(mini_root, out, seed=1)
    frame = pd.read_parquet(out)
    assert count == len(frame)
    return frame


@pytest.fixture(scope="module")
def balanced(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("rsvqa") / "balanced.parquet"
    generate_rsvqa(mini_root, out, seed=1, mix="balanced")
    return pd.read_parquet(out)


def mentioned(question: str) -> list[str]:
    return [name for name in CLASS_CODES if name.lower() in question.lower()]


@pytest.mark.parametrize("mix", ["original", "balanced"])
def test_answers_follow_the_labels(mini_root: Path, questions: pd.DataFrame, balanced: pd.DataFrame, mix: str) -> None:
    frame = questions if mix == "original" else balanced
    labels = read_metadata(mini_root).set_index("patch_id")["labels"].map(set)
    assert tuple(frame.columns) == RSVQA_COLUMNS
    assert frame["ID"].is_unique
    assert (frame.groupby("patch_id").size() == 25).all()
    for row in frame.itertuples(index=False):
        present = labels[row.patch_id]
        if row.type == "yes/no":
            names = mentioned(row.question)
            count = int(row.form.split()[1])
            assert len(names) == count, row.question
            truth = any(n in present for n in names) if row.form.endswith("or") else all(n in present for n in names)
            assert row.answer == ("yes" if truth else "no"), row.question
        else:
            assert row.type == "land cover"
            if row.form == "which classes":
                expected = sorted(present, key=list(CLASS_CODES).index)
            elif row.form == "which besides":
                other = mentioned(row.question.split("besides")[1])
                assert len(other) == 1
                assert other[0] in present
                expected = sorted(present - set(other), key=list(CLASS_CODES).index)
            else:
                digit = GROUPS[row.form.removeprefix("which ")]
                expected = [n for n in CLASS_CODES if n in present and str(CLASS_CODES[n][0])[0] == digit]
            assert row.answer == ("; ".join(expected) if expected else "None"), row.question


def test_the_original_mix_by_default(questions: pd.DataFrame) -> None:
    # RSVQAxBEN (DESIGN 2.9): yes 4,591,079, no 7,320,314, land cover 2,428,492 + None 418,265 of 14,758,150
    assert (questions["type"] == "yes/no").mean() == pytest.approx(1 - 2_846_757 / 14_758_150, abs=0.02)
    assert (questions["type"] == "yes/no").mean() == pytest.approx(20 / 25)  # 5 land-cover questions per image
    yes_no = questions[questions["type"] == "yes/no"]
    assert (yes_no["answer"] == "yes").mean() == pytest.approx(4_591_079 / 11_911_393, abs=0.02)
    for _, group in yes_no.groupby("form"):  # held within each form
        assert (group["answer"] == "yes").mean() == pytest.approx(0.385, abs=0.05)
    land_cover = questions[questions["type"] == "land cover"]
    assert (land_cover["answer"] == "None").mean() == pytest.approx(418_265 / 2_846_757, abs=0.03)


def test_unknown_mix(mini_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="original"):
        generate_rsvqa(mini_root, tmp_path / "qa.parquet", mix="natural")
    assert not (tmp_path / "qa.parquet").exists()


def test_balanced_mix_yes_and_no_per_form_and_class(balanced: pd.DataFrame) -> None:
    questions = balanced
    chunks = -(-questions["patch_id"].nunique() // CHUNK_PATCHES)
    yes_no = questions[questions["type"] == "yes/no"]
    assert set(yes_no["form"]) == {"presence 1", "presence 2 and", "presence 3 and", "presence 2 or", "presence 3 or"}
    for _, group in yes_no.groupby("form"):
        counts = group["answer"].value_counts()
        assert abs(counts["yes"] - counts["no"]) <= chunks
    single = yes_no[yes_no["form"] == "presence 1"].assign(name=lambda f: f["question"].map(lambda q: mentioned(q)[0]))
    per_class = single.groupby("name")["answer"].value_counts().unstack(fill_value=0)
    assert ((per_class["yes"] - per_class["no"]).abs() <= 3).mean() > 0.8  # the question does not give the answer
    assert 0.3 < (questions["type"] == "land cover").mean() <= 0.5


def test_same_seed_same_questions(mini_root: Path, questions: pd.DataFrame, tmp_path: Path) -> None:
    generate_rsvqa(mini_root, tmp_path / "again.parquet", seed=1, workers=1)
    pd.testing.assert_frame_equal(questions, pd.read_parquet(tmp_path / "again.parquet"))
