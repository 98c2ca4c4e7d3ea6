"""Two baselines that need no model: the majority (prior) answer and a random answer.

Priors are taken from the ``train`` rows of the texts (all rows where there are none):

* ``majority``: binary and multiple-choice questions get the most frequent answer of their category; detection
  instructions the whole patch ``[[0, 0, 1, 1]]`` (the prior box); captions the most frequent training caption.
* ``random``: yes or no, a letter a-d, one box with uniform corners, a training caption, all drawn uniformly
  with the given seed.
"""

import json
from typing import Literal

import numpy as np
import pandas as pd

from bigearth.errors import ConfigError
from bigearth.text.schema import BINARY, CAPTION, DETECTION, LETTERS, MULTIPLE_CHOICE, NO, YES

Baseline = Literal["majority", "random"]
BASELINES: tuple[str, ...] = ("majority", "random")
PRIOR_BOX = json.dumps([[0.0, 0.0, 1.0, 1.0]])


def _prior_rows(texts: pd.DataFrame) -> pd.DataFrame:
    train = texts[texts["split"] == "train"]
    return train if len(train) else texts


def _majority(texts: pd.DataFrame) -> pd.Series:
    prior = _prior_rows(texts)
    answers = pd.Series(PRIOR_BOX, index=texts.index, dtype=object)
    for kind in (BINARY, MULTIPLE_CHOICE):
        modes = prior[prior["type"] == kind].groupby("category")["output"].agg(lambda s: s.value_counts().index[0])
        rows = texts["type"] == kind
        fallback = YES if kind == BINARY else LETTERS[0]
        answers[rows] = texts.loc[rows, "category"].map(modes).fillna(fallback)
    captions = prior.loc[prior["type"] == CAPTION, "output"]
    if len(captions):
        answers[texts["type"] == CAPTION] = captions.value_counts().index[0]
    return answers


def _random(texts: pd.DataFrame, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    answers = pd.Series("", index=texts.index, dtype=object)
    kinds = texts["type"].to_numpy()
    for kind, choices in ((BINARY, [YES, NO]), (MULTIPLE_CHOICE, list(LETTERS))):
        rows = kinds == kind
        answers[rows] = rng.choice(choices, size=int(rows.sum()))
    rows = np.flatnonzero(kinds == DETECTION)
    corners = np.sort(rng.uniform(0, 1, size=(len(rows), 2, 2)), axis=1)  # (row, min/max, x/y)
    answers.iloc[rows] = [json.dumps([[*low, *high]]) for low, high in corners.round(4).tolist()]
    rows = np.flatnonzero(kinds == CAPTION)
    captions = _prior_rows(texts).loc[lambda f: f["type"] == CAPTION, "output"].to_numpy()
    if len(rows) and len(captions):
        answers.iloc[rows] = captions[rng.integers(len(captions), size=len(rows))]
    return answers


def baseline_predictions(texts: pd.DataFrame, kind: str, *, seed: int = 0) -> pd.DataFrame:
    """Return the predictions (``ID``, ``prediction``) of a baseline for every row of ``texts``.

    Args:
        texts: a BigEarthNet.txt table.
        kind: ``"majority"`` or ``"random"``.
        seed: random seed of the random baseline.

    Raises:
        ConfigError: for another baseline name.
    """
    if kind not in BASELINES:
        raise ConfigError(f"unknown baseline {kind!r}: use one of {BASELINES}")
    answers = _majority(texts) if kind == "majority" else _random(texts, seed)
    return pd.DataFrame({"ID": texts["ID"].to_numpy(), "prediction": answers.to_numpy()})
