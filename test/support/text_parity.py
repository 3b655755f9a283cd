"""Token ids from Python `tokenizers`, for test/text.parity.test.ts.

    python text_parity.py SST2_DIR TEXTS_JSON MAX_LENGTH OUT_JSON

TEXTS_JSON: {"fit": [...], "encode": [...]}. Fits WordPiece, BPE and Unigram tokenizers (lower-casing on and off;
the design's normalizer and pre-tokenizer, and the Bert normalizer/pre-tokenizer) on SST-2 training sentences (a
subset, for speed) plus the "fit" texts, then writes, for every tokenizer, its tokenizer.json and the ids of every
SST-2 dev and test sentence and every extra text: untruncated, and truncated to MAX_LENGTH on the right and on the
left.
"""

import json
import sys
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

TRAIN_SENTENCES = 8000
VOCAB_SIZE = 3000
SPECIALS = ["[PAD]", "[UNK]"]


def read_sentences(path: Path) -> list[str]:
    """`label<TAB>sentence` lines after a header; split on '\\n' only (never str.splitlines)."""
    lines = path.read_bytes().decode("utf-8").split("\n")[1:]
    return [line.split("\t", 1)[1] for line in lines if line != ""]


def make(kind: str, lowercase: bool, style: str) -> tuple[Tokenizer, trainers.Trainer]:
    trainer: trainers.Trainer
    if kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        trainer = trainers.WordPieceTrainer(
            vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS, show_progress=False
        )
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]", fuse_unk=True))
        trainer = trainers.BpeTrainer(
            vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS, show_progress=False
        )
    else:
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=VOCAB_SIZE, special_tokens=SPECIALS, unk_token="[UNK]", show_progress=False
        )
    if style == "design":
        tokenizer.normalizer = (
            normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
            if lowercase
            else normalizers.NFC()
        )
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    else:
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=True,
            strip_accents=lowercase,
            lowercase=lowercase,
        )
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer, trainer


def ids_of(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [encoding.ids for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]


def main() -> None:
    sst2, extra_path, max_length, out = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    extra: dict[str, list[str]] = json.loads(Path(extra_path).read_text(encoding="utf-8"))
    # Fitting on every flipped code point would make the alphabet larger than a small vocabulary.
    train = read_sentences(sst2 / "train.tsv")[:TRAIN_SENTENCES] + extra["fit"]
    texts = read_sentences(sst2 / "dev.tsv") + read_sentences(sst2 / "test.tsv") + extra["fit"] + extra["encode"]
    results = []
    for kind in ["wordpiece", "bpe", "unigram"]:
        for lowercase in [True, False]:
            for style in ["design", "bert"]:
                tokenizer, trainer = make(kind, lowercase, style)
                tokenizer.train_from_iterator(train, trainer)
                full = ids_of(tokenizer, texts)
                truncated = {}
                for side in ["right", "left"]:
                    tokenizer.enable_truncation(max_length, direction=side)
                    truncated[side] = ids_of(tokenizer, texts)
                tokenizer.no_truncation()
                results.append(
                    {
                        "name": f"{kind} lowercase={lowercase} {style}",
                        "json": tokenizer.to_str(),
                        "full": full,
                        "right": truncated["right"],
                        "left": truncated["left"],
                    }
                )
    Path(out).write_text(json.dumps({"texts": texts, "tokenizers": results}), encoding="utf-8")


if __name__ == "__main__":
    main()
