"""Tiny text models for test/runtime.text.test.ts, independent of the engine's text families.

    python text_model.py OUT_DIR

Fits a small WordPiece tokenizer, builds two hand-made padding-invariant embedding-bag classifiers (masked mean of
token embeddings, then a linear head) and exports them to ONNX with dynamic batch and width axes and the
`distillery.*` metadata of a text model:
- text.onnx: the table is one text column `review` (maxLength 12, truncation right);
- mixed.onnx: a numeric column `stars`, then the text column (maxLength 12, truncation left);
- bad-sha.onnx: text.onnx whose preprocess records another tokenizer's sha256.
Writes reference.json: the texts and each model's logits, computed by torch on ids from Python `tokenizers` padded
to the full maxLength, so the runtime's tokenization, padding and batching are checked end to end.
"""

import hashlib
import json
import sys
from pathlib import Path

import onnx
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

MAX_LENGTH = 12
PAD = 0
SENTENCES = [
    "a fine and moving film",
    "a dull , tedious mess",
    "the acting is superb and the story is moving",
    "boring plot , bad acting , tedious dialogue",
    "one of the best films of the year",
    "the worst film i have seen",
    "funny , warm and fine",
    "a mess from start to finish",
] * 4
TEXTS = [
    "a fine film",
    "a tedious , boring mess",
    "",
    "   ",
    "the best film of the year , funny and warm and moving and superb in every way",
    "unknownword zzz",
    "Ελληνικά 😀",
]


class Bag(torch.nn.Module):
    def __init__(self, vocab: int, fixed: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fixed = fixed
        self.embedding = torch.nn.Embedding(vocab, 8)
        self.head = torch.nn.Linear(8 + fixed, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x[:, self.fixed :].long()
        mask = (ids != PAD).unsqueeze(-1).float()
        summed = (self.embedding(ids) * mask).sum(dim=1)
        mean = summed / mask.sum(dim=1).clamp(min=1.0)
        return self.head(torch.cat([x[:, : self.fixed], mean], dim=1))


def export(model: Bag, path: Path, width: int, metadata: dict[str, str]) -> None:
    model.eval()
    torch.onnx.export(
        model,
        (torch.zeros(2, width),),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch", 1: "width"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = f"distillery.{key}"
        entry.value = value
    onnx.save(proto, str(path))


def main() -> None:
    out = Path(sys.argv[1])
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=200, min_frequency=1, special_tokens=["[PAD]", "[UNK]"], show_progress=False
    )
    tokenizer.train_from_iterator(SENTENCES, trainer)
    tokenizer_json = tokenizer.to_str()
    sha = hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest()
    vocab = tokenizer.get_vocab_size()

    def column(truncation: str, sha256: str = sha) -> dict[str, object]:
        return {
            "name": "review",
            "type": "text",
            "maxLength": MAX_LENGTH,
            "truncation": truncation,
            "padId": PAD,
            "vocabSize": vocab,
            "tokenizerSha256": sha256,
        }

    def ids(text: str, truncation: str) -> list[float]:
        encoded = tokenizer.encode(text, add_special_tokens=False).ids
        kept = encoded[:MAX_LENGTH] if truncation == "right" else encoded[-MAX_LENGTH:]
        return [float(i) for i in kept] + [float(PAD)] * (MAX_LENGTH - len(kept))

    common = {
        "task": "classification",
        "output": json.dumps({"name": "logits", "kind": "logits"}),
        "labels": json.dumps(["negative", "positive"]),
        "tokenizer": tokenizer_json,
    }
    reference: dict[str, object] = {"texts": TEXTS}

    text_model = Bag(vocab, 0)
    text_meta = {
        **common,
        "name": "text-bag",
        "input": json.dumps({"name": "input", "shape": [MAX_LENGTH]}),
        "preprocess": json.dumps({"kind": "table", "columns": [column("right")], "targets": ["label"]}),
    }
    export(text_model, out / "text.onnx", MAX_LENGTH, text_meta)
    bad_meta = {
        **text_meta,
        "preprocess": json.dumps({"kind": "table", "columns": [column("right", "0" * 64)], "targets": ["label"]}),
    }
    export(text_model, out / "bad-sha.onnx", MAX_LENGTH, bad_meta)
    with torch.no_grad():
        rows = torch.tensor([ids(text, "right") for text in TEXTS])
        reference["text"] = text_model(rows).tolist()

    mixed_model = Bag(vocab, 1)
    mixed_meta = {
        **common,
        "name": "mixed-bag",
        "input": json.dumps({"name": "input", "shape": [1 + MAX_LENGTH]}),
        "preprocess": json.dumps(
            {
                "kind": "table",
                "columns": [{"name": "stars", "type": "numeric", "fill": 3.0}, column("left")],
                "targets": ["label"],
            }
        ),
    }
    export(mixed_model, out / "mixed.onnx", 1 + MAX_LENGTH, mixed_meta)
    with torch.no_grad():
        rows = torch.tensor([[float(i + 1), *ids(text, "left")] for i, text in enumerate(TEXTS)])
        reference["mixed"] = mixed_model(rows).tolist()
    (out / "reference.json").write_text(json.dumps(reference), encoding="utf-8")


if __name__ == "__main__":
    main()
