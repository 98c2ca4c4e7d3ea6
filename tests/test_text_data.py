"""What the text tasks' data share: texts matched to their patches, tokenised once and collated."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from bigearth.data.dataset import ReBENDataset
from bigearth.errors import MissingDataError
from bigearth.models.vqa.tokenizer import QuestionTokenizer, packaged_vocab
from bigearth.tasks.text_data import TokenRows, patch_rows


def test_token_rows__batches_are_cut_to_their_longest_text() -> None:
    vocab = packaged_vocab().read_text(encoding="utf-8").splitlines()
    cls, sep, pad = vocab.index("[CLS]"), vocab.index("[SEP]"), vocab.index("[PAD]")
    texts = TokenRows(["forest", "water near forest", "Forest"], QuestionTokenizer(max_length=4))
    # [CLS] forest [SEP]; [CLS] water near [SEP] (cut at 4 tokens); lower-cased like the first
    assert texts.lengths.tolist() == [3, 4, 3]
    assert texts.truncated.tolist() == [False, True, False]
    alone = texts.batch([0, 2])
    forest = [cls, vocab.index("forest"), sep]
    assert alone["input_ids"].tolist() == [forest, forest]
    assert alone["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 1]]
    both = texts.batch(torch.tensor([0, 1]))
    assert both["input_ids"].dtype == torch.int64
    assert both["input_ids"].tolist() == [[*forest, pad], [cls, vocab.index("water"), vocab.index("near"), sep]]
    assert both["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


def test_patch_rows__finds_each_texts_patch_and_names_the_missing(mini_store: Path) -> None:
    images = ReBENDataset(mini_store, None, bands="s2")
    names = list(images.index.patch_id)
    frame = pd.DataFrame({"ID": ["a", "b", "c"], "patch_id": [names[5], names[0], names[5]]})
    assert patch_rows(frame, images, what="text(s) are about", fix="fix it").tolist() == [5, 0, 5]
    lost = pd.DataFrame({"ID": ["a", "b"], "patch_id": [names[1], "S2A_nowhere_00_00"]})
    message = r"1 caption\(s\) describe patches that the data does not hold \(e.g. \[\{'ID': 'b', .*\); fix it"
    with pytest.raises(MissingDataError, match=message):
        patch_rows(lost, images, what="caption(s) describe", fix="fix it")
