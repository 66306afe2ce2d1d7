"""Text without what hides or reorders it: the ground floor's rule, so a name the ledger writes
(an operator's, in opscore) is cleaned as the lanes clean outside text (missions.text)."""

import re
import unicodedata

# Zero-width and bidi-control characters hide instructions from people while models still
# read them; strip every format (Cf) character except the ordinary joiners in emoji. Variation
# selectors (Mn, not Cf) can smuggle whole messages, one byte per selector.
KEEP = {"\u200d"}
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def strip_invisible(text: str) -> str:
    text = _VARIATION_SELECTORS.sub("", text)
    cleaned = "".join(ch for ch in text if ch in KEEP or unicodedata.category(ch) != "Cf")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", cleaned)


def clean_reason(reason) -> str:
    """A reason as people will read it (admin, Stage, API, events): without the characters that
    hide or reorder text, as a proposal's title and a mission's reason are kept."""
    return strip_invisible(str(reason or "")).strip()
