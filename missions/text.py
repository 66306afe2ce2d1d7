"""Cleaning text that came from outside or from a model before anyone reads or acts on it: the
ground floor's rules (opscore.text), by the name the lanes know them."""

import re

from opscore.text import reveal_invisible as reveal_invisible
from opscore.text import strip_invisible as strip_invisible


def one_line(text: str) -> str:
    """Someone's words as one line of a prompt: their line breaks would start lines that read
    as the prompt's own, outside the heading that says whose words they are."""
    return " ".join(text.split())


LINE_BREAKS = re.compile(r"[\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


def row_line(text: str) -> str:
    """Someone's words inside one row of a command's output: their line breaks would print
    what reads as another row. Other controls are left for the terminal's writer to name (a
    carriage return shows as ⟨U+000D⟩, not a space that hides what it tried)."""
    return LINE_BREAKS.sub(" ", text)


def as_printed(text: str, indent: str = "    ") -> str:
    """Text printed under a heading line a terminal reader trusts ("T5 reply agent:devops:"):
    controls named (reveal_invisible) and every later line indented, so no line of someone's
    words can pass for another heading."""
    return reveal_invisible(text).replace("\n", "\n" + indent)
