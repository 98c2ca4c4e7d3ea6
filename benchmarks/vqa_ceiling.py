"""How well can a fixed image encoder answer RSVQAxBEN-style yes/no questions? A classifier read by rule.

The VQA demo (``scripts/demo_vqa.sh``) keeps the demo classifier's body fixed, so its yes/no accuracy is bounded
by how sharply that classifier tells which classes are present. This script answers each yes/no question of a
question file by rule from the classifier's own probabilities: a class is present where its probability exceeds
a threshold, and the question's classes are joined by its form's conjunction ("and": all present, "or": any). It
prints the accuracy per form and overall, with the threshold 0.5 and with one threshold per class chosen on the
validation split's patches (the most accurate presence decision per class), so that the VQA model's figure can be
read against what its image features hold.

    python benchmarks/vqa_ceiling.py --classifier demo/run --data demo/store --questions demo/qa.parquet
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bigearth.data.metadata import read_metadata
from bigearth.evaluation.predict import predict_dataset
from bigearth.folders.classifier import load_model
from bigearth.text import templates
from bigearth.text.rsvqa import YES_NO, YES_NO_FORMS

#: Candidate per-class thresholds.
THRESHOLDS = np.linspace(0.02, 0.98, 49)


def question_classes(question: str, form: str, class_names: tuple[str, ...]) -> list[str]:
    """The classes a yes/no question names, found by their in-sentence form.

    Raises:
        ValueError: if the count found differs from the form's.
    """
    found = [name for name in class_names if templates.in_sentence(name) in question]
    if len(found) != YES_NO_FORMS[form][0]:
        raise ValueError(f"question {question!r} ({form}) names {found}: expected {YES_NO_FORMS[form][0]} classes")
    return found


def rule_answers(questions: pd.DataFrame, present: pd.DataFrame, class_names: tuple[str, ...]) -> pd.Series:
    """Whether each question is answered right by the rule, given ``present`` (patch x class, bool)."""
    right = []
    for question, form, patch, answer in questions[["question", "form", "patch_id", "answer"]].itertuples(False):
        named = present.loc[patch, question_classes(question, form, class_names)]
        said = bool(named.all() if YES_NO_FORMS[form][1] == "and" else named.any())
        right.append(("yes" if said else "no") == answer)
    return pd.Series(right, index=questions.index)


def per_class_thresholds(probabilities: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """The most accurate presence threshold of each class on the given patches (``labels``: lists of names)."""
    chosen = {}
    for name in probabilities.columns:
        truth = labels.map(lambda names, name=name: name in names).to_numpy()
        scores = probabilities[name].to_numpy()
        accuracy = [((scores > cut) == truth).mean() for cut in THRESHOLDS]
        chosen[name] = float(THRESHOLDS[int(np.argmax(accuracy))])
    return pd.Series(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classifier", type=Path, required=True, help="classifier run or model folder")
    parser.add_argument("--data", type=Path, required=True, help="the store the questions were made from")
    parser.add_argument("--questions", type=Path, required=True, help="bigearth text rsvqa output")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    questions = pd.read_parquet(args.questions)
    missing = {"question", "answer", "type", "form", "split", "patch_id"} - set(questions.columns)
    if missing:
        sys.exit(f"{args.questions} lacks columns {sorted(missing)}: pass the output of `bigearth text rsvqa`")
    model = load_model(args.classifier, device="cpu")
    names, probabilities = predict_dataset(model, args.data)
    class_names = model.metadata.class_names
    frame = pd.DataFrame(probabilities.numpy(), index=names, columns=list(class_names))
    metadata = read_metadata(args.data, include_snow_cloud=True).set_index("patch_id")
    questions = questions[(questions.type == YES_NO) & (questions.split == args.split)]
    unknown = sorted(set(questions.patch_id) - set(frame.index))
    if unknown:
        sys.exit(f"{len(unknown)} questions' patches are not in {args.data} (e.g. {unknown[0]}): pass the store the "
                 "questions were made from")  # fmt: skip
    validation = metadata.index[metadata.split == "validation"].intersection(frame.index)
    cuts = {
        "threshold 0.5": pd.Series(0.5, index=frame.columns),
        "per-class thresholds (validation)": per_class_thresholds(frame.loc[validation], metadata.labels[validation]),
    }
    print(f"{len(questions)} {args.split} yes/no questions; classifier {args.classifier}")
    for label, cut in cuts.items():
        right = rule_answers(questions, frame.gt(cut, axis=1), class_names)
        by_form = right.groupby(questions.form).mean()
        forms = ", ".join(f"{form} {by_form[form]:.3f}" for form in YES_NO_FORMS if form in by_form)
        print(f"{label:<36} yes/no {right.mean():.3f}  ({forms})")


if __name__ == "__main__":
    main()
