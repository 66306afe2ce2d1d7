"""Cleaning text that came from outside or from a model before anyone reads or acts on it."""

import re
import unicodedata

# Zero-width and bidi-control characters hide instructions from people while models still
# read them; strip every format (Cf) character except the ordinary joiners in emoji.
_KEEP = {"\u200d"}


def strip_invisible(text: str) -> str:
    cleaned = "".join(ch for ch in text if ch in _KEEP or unicodedata.category(ch) != "Cf")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", cleaned)
