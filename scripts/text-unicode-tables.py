"""Probes Python `tokenizers` once per code point and prints what each primitive does (JSON on stdout).

Used by scripts/text-unicode-tables.js, which compares with JavaScript's Unicode properties and writes the
exceptions to src/preprocess/unicode-compat.ts. Run: node scripts/text-unicode-tables.js
"""

import json
import sys

from tokenizers import normalizers, pre_tokenizers


def main() -> None:
    clean = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False
    )
    strip = normalizers.StripAccents()
    bert_strip = normalizers.BertNormalizer(
        clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False
    )
    forms = {
        "nfd": normalizers.NFD(),
        "nfkd": normalizers.NFKD(),
        "nfc": normalizers.NFC(),
        "nfkc": normalizers.NFKC(),
    }
    lower = normalizers.Lowercase()
    bert = pre_tokenizers.BertPreTokenizer()
    whitespace = pre_tokenizers.Whitespace()
    out: dict[str, list[int]] = {
        k: [] for k in ["other", "space", "mark", "mn", "punct", "word", "wspace", "lower", *forms]
    }
    lowered: dict[int, str] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        cleaned = clean.normalize_str(ch)
        if cleaned == "" and cp not in (0, 0xFFFD):
            out["other"].append(cp)
        if cleaned == " ":
            out["space"].append(cp)
        if strip.normalize_str(ch) == "":
            out["mark"].append(cp)
        if bert_strip.normalize_str(ch) == "":
            out["mn"].append(cp)
        if [t for t, _ in bert.pre_tokenize_str("a" + ch + "b")] == ["a", ch, "b"]:
            out["punct"].append(cp)
        split = [t for t, _ in whitespace.pre_tokenize_str("a" + ch + "b")]
        if split == ["a" + ch + "b"]:
            out["word"].append(cp)
        elif split == ["a", "b"]:
            out["wspace"].append(cp)
        for name, form in forms.items():
            if form.normalize_str(ch) != ch:
                out[name].append(cp)
        low = lower.normalize_str(ch)
        if low != ch:
            lowered[cp] = low
    json.dump({"sets": out, "lower": lowered}, sys.stdout)


if __name__ == "__main__":
    main()
