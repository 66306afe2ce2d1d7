"""Cleaning text that came from outside or from a model before anyone reads or acts on it."""

import re
import unicodedata

# Zero-width and bidi-control characters hide instructions from people while models still
# read them; strip every format (Cf) character except the ordinary joiners in emoji. Variation
# selectors (Mn, not Cf) can smuggle whole messages, one byte per selector.
_KEEP = {"\u200d"}
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
# Kept by strip_invisible, yet they rewrite what a terminal shows: a carriage return not ending
# a line sends the cursor back, so the words after it print over the words before ('opscore
# words list'), and a C1 control (U+009B is a CSI) may start an escape sequence.
_TERMINAL_TRICKS = re.compile("\r(?!\n)|[\x80-\x9f]")


def reveal_invisible(text: str) -> str:
    """Text shown to an approver as it will act: each character strip_invisible would remove
    named where it stands (⟨U+202E⟩), so a bidi override cannot make 'evil' read 'live'; and
    a lone carriage return or a C1 control, so no terminal prints words over others."""
    text = _TERMINAL_TRICKS.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)
    return "".join(
        f"⟨U+{ord(ch):04X}⟩"
        if ch not in _KEEP and ch != "\n" and ch != "\t" and strip_invisible(ch) == ""
        else ch
        for ch in text
    )


def strip_invisible(text: str) -> str:
    text = _VARIATION_SELECTORS.sub("", text)
    cleaned = "".join(ch for ch in text if ch in _KEEP or unicodedata.category(ch) != "Cf")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", cleaned)
