"""Tiny Hugging Face teacher folders for test/text.teachers.test.ts; nothing is downloaded.

    python hf_teacher.py TEXTS_JSON OUT_DIR

TEXTS_JSON: a JSON list of sentences to fit the tokenizer on. Writes, under OUT_DIR:
- bert/: a randomly initialised BertForSequenceClassification (hidden 16, 2 layers, 2 labels) and its BERT-style
  WordPiece tokenizer.json ([PAD] [UNK] [CLS] [SEP] [MASK], "[CLS] text [SEP]"), as save_pretrained writes them;
- bert-onnx/: the same model exported to onnx/model.onnx (input_ids, attention_mask, token_type_ids; logits) beside
  the tokenizer.json: the Hugging Face ONNX layout.
Prints {"mask": the [MASK] id, "vocab": the vocabulary size} as JSON.
"""

import json
import os
import sys

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification


def tokenizer_for(texts):
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=200, special_tokens=special))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


class Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


def main(texts_file, out):
    with open(texts_file, encoding="utf8") as handle:
        texts = json.load(handle)
    tokenizer = tokenizer_for(texts)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, num_labels=2, initializer_range=0.2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    bert, onnx_dir = os.path.join(out, "bert"), os.path.join(out, "bert-onnx")
    os.makedirs(bert, exist_ok=True)
    os.makedirs(os.path.join(onnx_dir, "onnx"), exist_ok=True)
    model.save_pretrained(bert)
    for folder in (bert, onnx_dir):
        tokenizer.save(os.path.join(folder, "tokenizer.json"))
    example = torch.ones((1, 4), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    torch.onnx.export(
        Logits(model), (example, example, torch.zeros_like(example)), os.path.join(onnx_dir, "onnx", "model.onnx"),
        input_names=list(axes), output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
        dynamo=False, opset_version=17,
    )  # fmt: skip
    print(json.dumps({"mask": tokenizer.token_to_id("[MASK]"), "vocab": tokenizer.get_vocab_size()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
