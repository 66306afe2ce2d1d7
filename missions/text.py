"""Cleaning text that came from outside or from a model before anyone reads or acts on it."""

import re

from opscore.text import KEEP as _KEEP
from opscore.text import strip_invisible

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


def as_printed(text: str, indent: str = "    ") -> str:
    """Text printed under a heading line a terminal reader trusts ("T5 reply agent:devops:"):
    controls named (reveal_invisible) and every later line indented, so no line of someone's
    words can pass for another heading."""
    return reveal_invisible(text).replace("\n", "\n" + indent)
