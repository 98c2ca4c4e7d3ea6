"""LiT-4-RSVQA networks: tokenizer, answer vocabulary, fusions against independent computations, encoders, the
model's shapes and sharing of images and questions, its size and cost, and model folders with their errors."""

import json
import math
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.folders.classifier import save_model
from bigearth.folders.vqa import load_vqa_model, read_vqa_config, save_vqa_model
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa import AnswerVocabulary, QuestionError, QuestionTokenizer, VQAConfig, VQAModel, build_tokenizer
from bigearth.models.vqa.answers import OUTSIDE
from bigearth.models.vqa.fusion import MFBFusion, ProductFusion, build_fusion
from bigearth.models.vqa.image_encoder import IMAGE_ENCODERS, ImageEncoder
from bigearth.models.vqa.text_encoder import TextEncoder, resolve_text_config
from bigearth.models.vqa.tokenizer import packaged_vocab

#: A tiny image encoder and the default text encoder: fast enough for every test.
TINY = VQAConfig(
    image_encoder="resnet10t_slim", image_features=32, projection_dim=16, hidden_dim=8, num_answers=5, max_length=12
)
ANSWERS = ("yes", "no", "None", "Arable land", "Pastures")


@pytest.fixture(scope="module")
def tokenizer() -> QuestionTokenizer:
    return QuestionTokenizer(max_length=12)


@pytest.fixture(scope="module")
def tiny_model() -> VQAModel:
    torch.manual_seed(0)
    return VQAModel(TINY, ModelMetadata.create("resnet10t_slim", 10), ANSWERS).eval()


# ---- tokenizer ----


def test_tokenizer_reads_the_packaged_bert_base_uncased_vocabulary(tokenizer: QuestionTokenizer) -> None:
    assert packaged_vocab().is_file()
    assert tokenizer.vocab_size == 30522
    batch = tokenizer.encode(["Is there arable land in the image?", "Which land-cover classes are in the image?"])
    assert batch.input_ids.shape == batch.attention_mask.shape == (2, 12)
    assert batch.input_ids.dtype == batch.attention_mask.dtype == torch.int64
    assert batch.input_ids[0, 0] == 101  # [CLS]
    assert tokenizer.tokens("Is there arable land?") == ["[CLS]", "is", "there", "arab", "##le", "land", "?", "[SEP]"]
    short = int(batch.attention_mask[0].sum())
    assert batch.input_ids[0, short - 1] == 102
    assert (batch.input_ids[0, short:] == tokenizer.pad_id).all()
    assert not batch.truncated.any()
    assert not batch.unknown.any()


def test_overlong_questions_are_cut_and_flagged(tokenizer: QuestionTokenizer) -> None:
    long = "Are there " + " and ".join(["arable land", "pastures", "mixed forest", "inland waters"]) + " in the image?"
    batch = tokenizer.encode([long, "Is there water?"])
    assert batch.truncated.tolist() == [True, False]
    assert batch.attention_mask[0].all()
    assert batch.input_ids[0, -1] == 102


def test_unknown_words_become_word_pieces_or_unk(tokenizer: QuestionTokenizer) -> None:
    batch = tokenizer.encode(["Is there zzyzx here?", "Is there \U0001f6f0 here?"])
    assert batch.unknown.tolist() == [0, 1]
    assert "##zy" in tokenizer.tokens("Is there zzyzx here?")


@pytest.mark.parametrize("question", ["", "   \n", None, 42])
def test_empty_or_non_text_questions_are_refused(tokenizer: QuestionTokenizer, question: object) -> None:
    with pytest.raises(QuestionError, match="question 1"):
        tokenizer.encode(["Is there water?", question])  # type: ignore[list-item]


def test_tokenizer_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError):
        QuestionTokenizer(tmp_path / "nothing.txt")
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    with pytest.raises(CorruptDataError, match="special token"):
        QuestionTokenizer(tmp_path / "vocab.txt")
    with pytest.raises(ValueError, match="max_length"):
        QuestionTokenizer(max_length=2)


# ---- answers ----


def test_answer_vocabulary_keeps_the_most_frequent_answers_first() -> None:
    answers = ["no"] * 3 + ["yes"] * 3 + ["None"] * 2 + ["Pastures", "Arable land"]
    vocabulary = AnswerVocabulary.build(answers, size=4)
    assert vocabulary.answers == ("no", "yes", "None", "Arable land")  # ties alphabetically
    assert vocabulary.counts == (3, 3, 2, 1)
    assert vocabulary.encode(["yes", "Pastures"]).tolist() == [1, OUTSIDE]
    assert vocabulary.coverage(answers) == pytest.approx(0.9)
    assert vocabulary.decode(torch.tensor([2, 0])) == ["None", "no"]


def test_answer_vocabulary_round_trip_and_errors(tmp_path: Path) -> None:
    vocabulary = AnswerVocabulary.build(["a", "b", "a"])
    vocabulary.save(tmp_path)
    assert AnswerVocabulary.load(tmp_path) == vocabulary
    (tmp_path / "answers.json").write_text("{}")
    with pytest.raises(CorruptDataError):
        AnswerVocabulary.load(tmp_path)
    with pytest.raises(MissingDataError):
        AnswerVocabulary.load(tmp_path / "none")
    with pytest.raises(ValueError, match="no answers"):
        AnswerVocabulary.build([])


# ---- fusion ----


def test_product_fusion_is_the_element_wise_product() -> None:
    x, y = torch.randn(3, 8), torch.randn(3, 8)
    torch.testing.assert_close(ProductFusion(8)(x, y), x * y)


def test_mfb_matches_an_explicit_bilinear_computation() -> None:
    torch.manual_seed(1)
    fusion = MFBFusion(6, out_dim=4, factor=3, dropout=0.0).eval()
    x, y = torch.randn(5, 6), torch.randn(5, 6)
    # independent computation: each output unit i is x'^T W_i y' with W_i = sum_j u_ij v_ij^T over the k = 3 rank-one
    # terms, x' = [x, 1] and y' = [y, 1] carrying the biases
    u = torch.cat([fusion.image_projection.weight, fusion.image_projection.bias[:, None]], dim=1).view(4, 3, 7)
    v = torch.cat([fusion.question_projection.weight, fusion.question_projection.bias[:, None]], dim=1).view(4, 3, 7)
    w = torch.einsum("kja,kjb->kab", u, v)  # (out, 7, 7) bilinear matrices
    xs, ys = torch.cat([x, torch.ones(5, 1)], 1), torch.cat([y, torch.ones(5, 1)], 1)
    z = torch.einsum("na,kab,nb->nk", xs, w, ys)
    z = torch.sign(z) * torch.sqrt(torch.abs(z))
    expected = z / z.norm(dim=1, keepdim=True)
    torch.testing.assert_close(fusion(x, y), expected, rtol=1e-4, atol=1e-5)
    assert torch.allclose(fusion(x, y).norm(dim=1), torch.ones(5))


def test_mfb_gradient_is_finite_where_a_unit_is_zero() -> None:
    fusion = MFBFusion(4, out_dim=2, factor=2, dropout=0.0)
    torch.nn.init.zeros_(fusion.image_projection.weight)
    torch.nn.init.zeros_(fusion.image_projection.bias)
    x = torch.randn(2, 4, requires_grad=True)
    fusion(x, torch.randn(2, 4)).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in fusion.parameters() if p.grad is not None)


def test_fusion_errors() -> None:
    with pytest.raises(ValueError, match=r"\(batch_size, 8\)"):
        ProductFusion(8)(torch.randn(3, 8), torch.randn(2, 8))
    with pytest.raises(ValueError, match="batch_size"):
        MFBFusion(8)(torch.randn(3, 8), torch.randn(3, 7))
    with pytest.raises(ConfigError, match="unknown fusion"):
        build_fusion("mutant", 8)
    with pytest.raises(ConfigError, match="fusion_args"):
        build_fusion("mfb", 8, {"rank": 3})
    with pytest.raises(ConfigError):
        build_fusion("mfb", 8, {"factor": 0})


# ---- encoders ----


def test_bert_tiny_is_built_from_its_configuration() -> None:
    config = resolve_text_config("bert-tiny")
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"],
            config["intermediate_size"], config["vocab_size"]) == (2, 128, 2, 512, 30522)  # fmt: skip
    encoder = TextEncoder(config)
    assert 4.3e6 < sum(p.numel() for p in encoder.parameters()) < 4.45e6  # BERT-tiny: 4.4 M


def test_mean_pooling_ignores_padding() -> None:
    torch.manual_seed(0)
    encoder = TextEncoder(resolve_text_config("bert-tiny"), pooling="mean").eval()
    ids = torch.tensor([[101, 2003, 2045, 102]])
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.int64)], dim=1)
    short = encoder(ids, torch.ones_like(ids))
    long = encoder(padded, (padded != 0).long())
    torch.testing.assert_close(short, long, rtol=1e-4, atol=1e-5)
    assert encoder.encoder.pooler is None


def test_packaged_minilm_loads_its_pretrained_weights() -> None:
    import transformers

    from bigearth.models.vqa.text_encoder import text_encoder_folder

    encoder = TextEncoder.from_name("minilm-l6", pooling="mean")
    reference = transformers.AutoModel.from_pretrained(text_encoder_folder("minilm-l6"), local_files_only=True)
    key = "embeddings.word_embeddings.weight"
    torch.testing.assert_close(encoder.encoder.state_dict()[key], reference.state_dict()[key])
    assert encoder.out_dim == 384


def test_text_encoder_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown text encoder"):
        resolve_text_config("bert-gigantic")
    with pytest.raises(MissingDataError, match=r"config\.json"):
        resolve_text_config(str(tmp_path))
    with pytest.raises(ConfigError, match="pooling"):
        TextEncoder(resolve_text_config("bert-tiny"), pooling="max")


def test_image_encoders_map_to_timm_and_give_features() -> None:
    assert IMAGE_ENCODERS["deit_tiny"] == "deit_tiny_patch16_224"
    encoder = ImageEncoder("resnet10t_slim", in_chans=3, features=7, image_size=120)
    assert encoder(torch.randn(2, 3, 120, 120)).shape == (2, 7)
    with pytest.raises(ConfigError, match="unknown backbone"):
        ImageEncoder("resnet-9000", in_chans=3, features=7, image_size=120)


# ---- the model ----


def test_model_shares_images_and_questions(tiny_model: VQAModel, tokenizer: QuestionTokenizer) -> None:
    images = torch.randn(2, 10, 120, 120)
    questions = ["Is there water?", "Which classes?", "Is there water?"]
    tokens = tokenizer.encode(questions)
    image_index = torch.tensor([0, 1, 1])
    logits = tiny_model(images, tokens.input_ids, tokens.attention_mask, image_index)
    assert logits.shape == (3, len(ANSWERS))
    assert logits.dtype == torch.float32
    # the same with distinct questions encoded once
    distinct = tokenizer.encode(questions[:2])
    shared = tiny_model(images, distinct.input_ids, distinct.attention_mask, image_index, torch.tensor([0, 1, 0]))
    torch.testing.assert_close(shared, logits)
    # and one image per question
    single = tiny_model(images[image_index], tokens.input_ids, tokens.attention_mask)
    torch.testing.assert_close(single, logits, rtol=1e-4, atol=1e-5)


def test_question_only_model_ignores_the_image(tokenizer: QuestionTokenizer) -> None:
    config = VQAConfig(image_encoder="none", projection_dim=16, hidden_dim=8, num_answers=5)
    model = VQAModel(config, ModelMetadata.create("none", 10), ANSWERS).eval()
    tokens = tokenizer.encode(["Is there water?"])
    assert model.image is None
    assert not model.uses_image
    alone = model(None, tokens.input_ids, tokens.attention_mask)
    torch.testing.assert_close(alone, model(torch.randn(1, 10, 120, 120), tokens.input_ids, tokens.attention_mask))


def test_model_input_errors(tiny_model: VQAModel, tokenizer: QuestionTokenizer) -> None:
    tokens = tokenizer.encode(["Is there water?"])
    with pytest.raises(ValueError, match="10 bands"):
        tiny_model(torch.randn(1, 12, 120, 120), tokens.input_ids, tokens.attention_mask)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tiny_model(torch.randn(1, 10, 120, 120), tokens.input_ids + 40000, tokens.attention_mask)
    with pytest.raises(ValueError, match="pass the images"):
        tiny_model(None, tokens.input_ids, tokens.attention_mask)
    with pytest.raises(ValueError, match="image_index"):
        tiny_model(torch.randn(2, 10, 120, 120), tokens.input_ids, tokens.attention_mask)
    with pytest.raises(ConfigError, match="answers"):
        VQAModel(TINY, tiny_model.metadata, tuple("abcdefg"))
    with pytest.raises(ConfigError, match="dropout"):
        VQAModel(VQAConfig(dropout=1.5), tiny_model.metadata, ANSWERS)


def test_published_pair_has_the_published_size_and_cost() -> None:
    model = VQAModel(VQAConfig(), ModelMetadata.create("mobilevit_s", 10), tuple(map(str, range(1000)))).eval()
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == pytest.approx(10.4e6, rel=0.01)
    counter = FlopCounterMode(display=False)
    ids = torch.randint(1000, 2000, (1, 32))
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(torch.randn(1, 10, 120, 120), ids, torch.ones_like(ids))
    assert counter.get_total_flops() == pytest.approx(0.9e9, rel=0.05)


# ---- model folders ----


def test_model_folder_round_trip(tiny_model: VQAModel, tokenizer: QuestionTokenizer, tmp_path: Path) -> None:
    save_vqa_model(tiny_model, tokenizer, tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "answers.json", "config.json", "env.json", "model.safetensors", "vocab.txt"]  # fmt: skip
    loaded, loaded_tokenizer = load_vqa_model(tmp_path / "model")
    tokens = loaded_tokenizer.encode(["Is there water?"])
    assert loaded_tokenizer.max_length == tokenizer.max_length == 12
    images = torch.randn(1, 10, 120, 120)
    torch.testing.assert_close(loaded(images, tokens.input_ids, tokens.attention_mask),
                               tiny_model(images, tokens.input_ids, tokens.attention_mask))  # fmt: skip
    assert loaded.answers == ANSWERS
    assert loaded.metadata == tiny_model.metadata
    # the weights alone rebuild the network without bigearth's loader
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    rebuilt = VQAModel(VQAConfig.from_dict(config["network"]), ModelMetadata.from_dict(config), ANSWERS,
                       text_config=config["text_config"], image_architecture=config["image_architecture"],
                       image_model_args=config["image_model_args"])  # fmt: skip
    rebuilt.load_state_dict(safetensors.torch.load_file(tmp_path / "model" / "model.safetensors"))


def test_model_folder_errors(tiny_model: VQAModel, tokenizer: QuestionTokenizer, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    save_vqa_model(tiny_model, tokenizer, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "vqa_format_version": 99, "bigearth_version": "9.0"}))
    with pytest.raises(CorruptDataError, match="layout version 99"):
        load_vqa_model(folder)
    (folder / "config.json").write_text(json.dumps({**config, "format_version": 7}))
    with pytest.raises(CorruptDataError, match="v1"):
        load_vqa_model(folder)
    (folder / "config.json").write_text(json.dumps({**config, "image_model_args": {"in_chans": 3, "num_classes": 32}}))
    with pytest.raises(CorruptDataError, match="do not belong together"):
        load_vqa_model(folder)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "vocab.txt").unlink()
    with pytest.raises(MissingDataError, match=r"vocab\.txt"):
        load_vqa_model(folder)
    classifier = tmp_path / "classifier"
    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", 10)), classifier)
    with pytest.raises(CorruptDataError, match="not a VQA model"):
        read_vqa_config(classifier)
    with pytest.raises(MissingDataError):
        load_vqa_model(tmp_path / "nowhere")
    shutil.rmtree(folder)


def test_tokenizer_follows_the_text_encoder_folder() -> None:
    assert build_tokenizer(VQAConfig(text_encoder="minilm-l6")).vocab.parent.name == "model"
    assert build_tokenizer(VQAConfig(max_length=7)).max_length == 7
    assert math.isclose(len(build_tokenizer(VQAConfig()).vocab.read_text().splitlines()), 30522)
