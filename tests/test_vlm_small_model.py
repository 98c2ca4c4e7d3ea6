"""The built-in VLM's network layer: the cut vocabulary, box texts, the attention mask, causality, cached greedy
generation against a recomputation without cache, and the per-text loss against a hand computation."""

import math

import pytest
import torch

from bigearth.errors import ConfigError
from bigearth.models.classifier import SceneClassifier
from bigearth.models.encoders import BackboneEncoder
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vlm import SmallVLM, VLMConfig, VLMTokenizer, build_vocabulary, read_boxes, write_boxes
from bigearth.models.vlm.decoder import DecoderBlock, attention_mask
from bigearth.models.vqa.tokenizer import QuestionTokenizer
from bigearth.tasks.vlm.small.data import SequenceEncoder
from bigearth.tasks.vlm.small.module import text_losses

TEXTS = ["Does the image show any pastures?", "yes", "[[31, 40, 100, 100]]", "Detect every area of mixed forest."]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> VLMTokenizer:
    return VLMTokenizer.from_entries(build_vocabulary(TEXTS), tmp_path_factory.mktemp("vocab"))


@pytest.fixture(scope="module", params=[False, True], ids=["cells", "cells+concepts"])
def model(request: pytest.FixtureRequest) -> SmallVLM:
    torch.manual_seed(0)
    encoder = BackboneEncoder(SceneClassifier(ModelMetadata.create("resnet10t_slim", "s1s2")))
    config = VLMConfig(image_grid=2, concept_tokens=request.param, width=32, layers=2, heads=4, dropout=0.0,
                       max_length=24)  # fmt: skip
    network = SmallVLM(config, encoder, 60)
    with torch.no_grad():  # larger embeddings than the training initialisation, so that greedy choices differ
        network.token_embedding.weight.normal_(std=1.0)
    return network.eval()


def test_cut_vocabulary_splits_training_words_as_the_full_one(tokenizer: VLMTokenizer) -> None:
    full = QuestionTokenizer()  # the packaged bert-base-uncased vocabulary
    entries = tokenizer.vocab.read_text().splitlines()
    assert entries[:1] == ["[PAD]"]
    assert {"[UNK]", "[CLS]", "[SEP]", "a", "##a", "0", "##9", "["} <= set(entries)
    for text in TEXTS:
        pieces = [entries[i] for i in tokenizer.pieces([text])[0]]
        assert pieces == full.tokens(text)[1:-1]  # without [CLS] and [SEP]
    assert tokenizer.decode(tokenizer.pieces(["yes"])[0] + [tokenizer.sep_id, tokenizer.pieces(["no"])[0][0]]) == "yes"
    # a word outside the training texts still splits into kept pieces (single letters at worst), never [UNK]
    assert tokenizer.unk_id not in tokenizer.pieces(["zzyzx wetlands"])[0]


def test_boxes_in_whole_percent_and_back() -> None:
    assert write_boxes([[0.3083, 0.4, 1.0, 1.0], [0.0, 0.004, 0.126, 0.5]]) == "[[31, 40, 100, 100], [0, 0, 13, 50]]"
    assert read_boxes("[ [ 31, 40, 100, 100 ], [ 0, 0, 13, 50 ] ]") == "[[0.31, 0.4, 1.0, 1.0], [0.0, 0.0, 0.13, 0.5]]"
    assert read_boxes("[ ]") == "[]"
    for broken in ("[ [ 31, 40, 100", "[ [ 31, 40, 100 ] ]", "[ [ 31, 40, 100, 101 ] ]", "yes", "[ [ 1, 2, 3, a ] ]"):
        assert read_boxes(broken) is None, broken


def test_attention_mask_is_causal_and_hides_padding() -> None:
    valid = torch.tensor([[True, True, False, True]])
    assert attention_mask(valid, 4)[0, 0].int().tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 1]]
    assert attention_mask(valid, 1)[0, 0].int().tolist() == [[1, 1, 0, 1]]  # the newest token sees every real one


def test_decoder_block_is_causal() -> None:
    torch.manual_seed(0)
    block = DecoderBlock(16, 4).eval()
    x = torch.randn(1, 5, 16)
    changed = x.clone()
    changed[0, 3:] += 1.0
    mask = attention_mask(torch.ones(1, 5, dtype=torch.bool), 5)
    out, _ = block(x, mask)
    out_changed, _ = block(changed, mask)
    assert torch.allclose(out[0, :3], out_changed[0, :3], atol=1e-6)
    assert not torch.allclose(out[0, 3:], out_changed[0, 3:])
    with pytest.raises(ValueError, match="multiple"):
        DecoderBlock(10, 4)


def test_cached_generation_equals_greedy_recomputation(model: SmallVLM) -> None:
    torch.manual_seed(1)
    tokens = model.encode_images(torch.randn(2, 14, 120, 120))
    prompts = [[2, 10, 11, 12, 3], [2, 20, 3]]
    ids = torch.tensor([prompts[0], [0, 0, *prompts[1]]])  # the second prompt padded on the left
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    written = model.generate(tokens, ids, mask, max_new_tokens=6, end_id=3)
    for row, prompt in enumerate(prompts):
        sequence = list(prompt)
        for _ in range(written.shape[1]):  # no cache, no padding: the whole sequence every step
            hidden = model(
                tokens[row : row + 1], torch.tensor([sequence]), torch.ones(1, len(sequence), dtype=torch.long)
            )
            sequence.append(int(model.logits(hidden[0, -1]).argmax()))
            if sequence[-1] == 3:
                break
        expected = sequence[len(prompt) :]
        assert written[row, : len(expected)].tolist() == expected
        assert (written[row, len(expected) :] == 3).all()  # rows that ended repeat the end token


def test_concept_tokens_carry_each_class_presence_per_cell_and_patch() -> None:
    torch.manual_seed(2)
    encoder = BackboneEncoder(SceneClassifier(ModelMetadata.create("resnet10t_slim", "s1s2")))
    network = SmallVLM(VLMConfig(image_grid=2, concept_tokens=True, width=8, heads=2), encoder, 30)
    assert network.image_tokens == 4 + 19
    network.init_concepts([[5], [6, 7], *[[8 + k] for k in range(17)]], prompt_end=3)
    embedding = network.token_embedding.weight
    assert torch.equal(network.concept_embedding[1], (embedding[6] + embedding[7]) / 2)
    cells = torch.randn(1, 4, encoder.feature_dim)
    network.requires_grad_(False)
    tokens = network.encode_cells(cells)
    assert tokens.shape == (1, 23, 8)
    head, value = network.concept_head, network.concept_value
    for k in (0, 11, 18):  # by hand: per-cell logits, their maximum, the probabilities, the projection
        logits = [float(cells[0, cell] @ head.weight[k] + head.bias[k]) for cell in range(4)]
        probabilities = torch.tensor([1 / (1 + math.exp(-v)) for v in [*logits, max(logits)]])
        expected = network.concept_embedding[k] + value.weight @ probabilities + value.bias
        torch.testing.assert_close(tokens[0, 4 + k], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="19 non-empty"):
        network.init_concepts([[5]] * 18, prompt_end=3)
    # links: "6 7" names class 1 (its token 6 alone names nothing), "5" class 0, nothing after the prompt's end
    ids = torch.tensor([[2, 6, 7, 9, 6, 5, 3, 5, 6, 7]])
    assert network.concept_links(ids).tolist() == [[-1, 1, 1, 3, -1, 0, -1, -1, -1, -1]]  # token 9 names class 3
    positions = torch.arange(10).unsqueeze(0)
    embedded = network._embed_prompt(tokens, ids, positions)[0]
    plain = embedding[ids[0]] + network.text_position.weight[:10]
    torch.testing.assert_close(embedded[2], plain[2] + tokens[0, 4 + 1])  # a linked token gets its concept token
    torch.testing.assert_close(embedded[[0, 4, 6, 7]], plain[[0, 4, 6, 7]])


def test_generation_stops_at_max_length(model: SmallVLM) -> None:
    tokens = model.encode_images(torch.zeros(1, 14, 120, 120))
    ids = torch.arange(20).unsqueeze(0) % 50 + 5
    written = model.generate(tokens, ids, torch.ones_like(ids), max_new_tokens=50, end_id=-1)
    assert written.shape == (1, 24 - 1 - 19)  # positions 20..22: one position is kept for the token after


def test_bad_inputs(model: SmallVLM) -> None:
    with pytest.raises(ValueError, match="bands"):
        model.encode_images(torch.zeros(1, 12, 120, 120))
    tokens = model.encode_images(torch.zeros(1, 14, 120, 120))
    with pytest.raises(ValueError, match="vocabulary"):
        model(tokens, torch.tensor([[2, 60]]), torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="max_length"):
        model(tokens, torch.zeros(1, 25, dtype=torch.long), torch.ones(1, 25, dtype=torch.long))
    with pytest.raises(ConfigError, match="multiple"):
        VLMConfig(width=30, heads=4).validate()


def test_text_losses_average_each_text_over_its_own_tokens() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    targets = torch.tensor([0, 2, 2])
    rows = torch.tensor([0, 0, 1])

    def nll(row: list[float], target: int) -> float:
        return -row[target] + math.log(sum(math.exp(v) for v in row))

    first = (nll([2, 0, 0], 0) + nll([0, 1, 0], 2)) / 2
    expected = [first, nll([0, 0, 3], 2), 0.0]  # the third text has no target tokens
    assert text_losses(logits, targets, rows, 3).tolist() == pytest.approx(expected)


def test_long_sequences_lose_the_end_of_the_prompt(tokenizer: VLMTokenizer) -> None:
    encoder = SequenceEncoder(tokenizer, max_length=8)
    question = "Does the image show any pastures?"
    prompt, answer = tokenizer.pieces([question])[0], tokenizer.pieces(["yes"])[0]
    cls, sep = tokenizer.cls_id, tokenizer.sep_id
    assert len(prompt) > 5
    assert len(answer) == 1
    rows, starts, cut = encoder.sequences([question, "yes"], ["yes", "yes"])
    assert rows[0] == [cls, *prompt[:4], sep, *answer, sep]  # 8 tokens: the target and its [SEP] are kept whole
    assert rows[1] == [cls, *answer, sep, *answer, sep]
    assert (starts, cut) == ([6, 3], 1)
    prompts, cut = encoder.prompts([question])
    assert (prompts, cut) == ([[cls, *prompt[:5], sep]], 1)  # one position is left for the answer
