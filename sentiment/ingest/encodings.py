"""Encoding detection: UTF-8 (with or without BOM), GB18030/GBK, Big5."""
from __future__ import annotations

import codecs
from functools import lru_cache
from pathlib import Path

from sentiment.errors import IngestError

BIG5_CODECS = ("cp950", "big5hkscs")   # Windows Big5 (TW), then the HK superset


SAMPLE_BYTES = 256 * 1024


def sniff_encoding(sample: bytes, path: Path) -> str:
    """utf-8-sig, utf-8, gb18030, Big5 (cp950) or what charset-normalizer finds; binary files are refused."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise IngestError(f"{path}: binary file (contains NUL bytes), not a text export")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return _gb_or_big5(sample[:PROBE_BYTES])
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise IngestError(f"{path}: cannot detect the text encoding (not UTF-8 or GB18030)")
    return best.encoding


PROBE_BYTES = 32 * 1024


def _gb_or_big5(probe: bytes) -> str:
    """GB18030 decodes almost any Big5 byte pair without error, as mojibake: a traditional export
    from a HK/TW seller would pass as GB18030. Keep the decoding whose text is plausible Chinese,
    judged by its share of common characters (GBK text scores about 0.95, Big5 read as GBK about 0.4)."""
    gb_score = _plausibility(codecs.getincrementaldecoder("gb18030")().decode(probe, final=False))
    if gb_score >= 0.9:
        return "gb18030"
    for encoding in BIG5_CODECS:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(probe, final=False)
        except UnicodeDecodeError:
            continue
        if _plausibility(text) >= gb_score + 0.2:
            return encoding
    return "gb18030"


def _plausibility(text: str) -> float:
    """Share of common CJK characters and punctuation among the non-ASCII characters (emoji aside)."""
    common = _common_chars()
    chars = [c for c in text if "\x7f" < c < "\U0001f000"]
    if not chars:
        return 1.0
    return sum(1 for c in chars if c in common) / len(chars)


@lru_cache(maxsize=1)
def _common_chars() -> frozenset[str]:
    """GB2312 level 1 (the 3,755 most used simplified characters), Big5 常用字 (the 5,401 most used
    traditional ones), CJK punctuation and full-width forms."""
    chars: set[str] = set()
    pairs = [(lead, trail, "gb2312") for lead in range(0xB0, 0xD8) for trail in range(0xA1, 0xFF)]
    pairs += [(lead, trail, "big5") for lead in range(0xA4, 0xC7)
              for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF))]
    for lead, trail, encoding in pairs:
        try:
            chars.add(bytes((lead, trail)).decode(encoding))
        except UnicodeDecodeError:
            pass
    chars.update(map(chr, range(0x3000, 0x3040)))
    chars.update(map(chr, range(0xFF01, 0xFF5F)))
    chars.update("…—·‘’“”、")
    return frozenset(chars)
