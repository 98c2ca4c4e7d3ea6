"""Instruction samples of BigEarthNet.txt rows: prompts, targets, box writing and parsing, the true-colour composite."""

import math

import pandas as pd
import pytest
import torch

from bigearth.errors import MetadataError
from bigearth.text.answers import parse_boxes
from bigearth.text.instruct import (
    InstructSample,
    chat_messages,
    instruction_samples,
    parse_generation,
    true_colour,
    write_boxes,
)

BOX = InstructSample("t1", "P1", "bounding box", "presence", "Detect every area of mixed forest.",
                     "[[0.30833, 0.4, 1.0, 1.0], [0.0, 0.0125, 0.05, 0.1]]")  # fmt: skip
BINARY = InstructSample("t2", "P1", "binary", "presence", "Are there pastures?", "yes")
OPTIONS = "Which class can be seen?\na) Arable land\nb) Pastures\nc) Mixed forest\nd) Beaches"
CHOICE = InstructSample("t3", "P1", "mcq", "presence", OPTIONS, "c")
CAPTION = InstructSample("t4", "P1", "captioning", "caption", "Write a caption.", "Fields and forest.")


def test_boxes_are_written_rounded_in_both_styles() -> None:
    assert BOX.target("tags") == "<box>[0.308 0.4, 1 1]</box><box>[0 0.013, 0.05 0.1]</box>"
    assert BOX.target("json") == "[[0.308, 0.4, 1, 1], [0, 0.013, 0.05, 0.1]]"
    assert write_boxes([], "tags") == "[]"
    with pytest.raises(MetadataError, match="box style"):
        write_boxes([[0, 0, 1, 1]], "xml")


def test_targets_read_back_within_the_rounding() -> None:
    truth = parse_boxes(BOX.output, "t1")
    for style in ("tags", "json"):
        read = parse_boxes(BOX.target(style), "t1")
        assert len(read) == 2
        for box, expected in zip(read, truth, strict=True):
            assert all(abs(a - b) <= 0.0005 for a, b in zip(box, expected, strict=True))


def test_prompts_say_the_answer_form() -> None:
    assert BINARY.prompt() == "Are there pastures? Answer yes or no."
    assert CHOICE.prompt().endswith("d) Beaches Answer with the letter of the right option.")
    assert "<box>[x1 y1, x2 y2]</box>" in BOX.prompt("tags")
    assert "JSON list" in BOX.prompt("json")
    assert CAPTION.prompt() == "Write a caption."
    user, answer = chat_messages(BINARY, with_target=True)
    text = {"type": "text", "text": "Are there pastures? Answer yes or no."}
    assert user == {"role": "user", "content": [{"type": "image"}, text]}
    assert answer == {"role": "assistant", "content": [{"type": "text", "text": "yes"}]}
    assert len(chat_messages(BINARY, with_target=False)) == 1


@pytest.mark.parametrize(
    ("sample", "generation", "expected"),
    [
        (BINARY, "Yes, there are.", ("yes", True)),
        (BINARY, "perhaps", ("perhaps", False)),
        (CHOICE, "(b) Pastures", ("b", True)),
        (CHOICE, "mixed forest", ("c", True)),
        (CHOICE, "e", ("e", False)),
        (BOX, "<box>[0.1 0.2, 0.5 0.6]</box> <box>[0 0, 1 1]</box>", ("[[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1]]", True)),
        (BOX, "<ref>mixed forest</ref><box>[0.25 0.5, 0.75 1.0]</box>", ("[[0.25, 0.5, 0.75, 1]]", True)),
        (BOX, " [[0.25, 0.5, 0.75, 1.0]]", ("[[0.25, 0.5, 0.75, 1]]", True)),
        (BOX, "(0.3, 0.4)", ("[[0.3, 0.4, 0.3, 0.4]]", True)),  # a point: a box of zero size
        (BOX, "<box>[0.1 0.2, 0.5", ("[]", False)),  # the box is never closed
        (BOX, "[[0.5, 0.2, 0.1, 0.6]]", ("[]", False)),  # x_min > x_max
        (CAPTION, "  Fields\n and   forest. ", ("Fields and forest.", True)),
        (CAPTION, "   ", ("", False)),
    ],
)
def test_generations_are_parsed_by_type(sample: InstructSample, generation: str, expected: tuple[str, bool]) -> None:
    assert parse_generation(generation, sample) == expected


def test_samples_need_the_types_asked_for() -> None:
    frame = pd.DataFrame({"ID": ["a", "b"], "patch_id": ["P1", "P2"], "input": ["q1", "q2"], "output": ["yes", "no"],
                          "type": ["binary", "binary"], "category": ["presence", "area"]})  # fmt: skip
    samples = instruction_samples(frame, types=["binary"])
    assert [(s.id, s.patch_id, s.category, s.output) for s in samples] == [("a", "P1", "presence", "yes"),
                                                                           ("b", "P2", "area", "no")]  # fmt: skip
    with pytest.raises(MetadataError, match=r"no row of type\(s\) \['mcq'\]"):
        instruction_samples(frame, types=["binary", "mcq"])
    with pytest.raises(MetadataError, match="unknown text type"):
        instruction_samples(frame, types=["vqa"])


def test_true_colour_composite_by_hand() -> None:
    # reflectance x 10^4: 0, 400 (0.04 -> gain 2.5 -> 0.1 -> gamma 1/2.2), 4000 (-> 1), 8000 (clipped), -50 (clipped)
    values = torch.tensor([0.0, 400.0, 4000.0, 8000.0, -50.0]).reshape(1, 1, 5).expand(3, 4, 5)
    pixels = true_colour(values)
    assert pixels.shape == (4, 5, 3)
    assert pixels.dtype.name == "uint8"
    expected = [0, round(255 * 0.1 ** (1 / 2.2)), 255, 255, 0]
    assert expected[1] == 90  # 255 x 0.35111 = 89.53
    assert pixels[0, :, 0].tolist() == expected
    assert (pixels[..., 0] == pixels[..., 2]).all()


def test_true_colour_resizes_and_keeps_band_order() -> None:
    image = torch.zeros(2, 3, 120, 120)
    image[:, 0] = 4000.0  # B04 -> red
    pixels = true_colour(image, 32)
    assert pixels.shape == (2, 32, 32, 3)
    assert (pixels[..., 0] == 255).all()
    assert (pixels[..., 1:] == 0).all()
    assert true_colour(image, (24, 40)).shape == (2, 24, 40, 3)
    with pytest.raises(MetadataError, match="3 bands"):
        true_colour(torch.zeros(1, 4, 8, 8))
    assert math.isclose(0.1 ** (1 / 2.2), 0.35111, abs_tol=1e-5)
