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


# Kept by strip_invisible, yet they rewrite what a terminal shows: a carriage return not ending
# a line sends the cursor back, so the words after it print over the words before ('opscore
# words list'), and a C1 control (U+009B is a CSI) may start an escape sequence.
_TERMINAL_TRICKS = re.compile("\r(?!\n)|[\x80-\x9f]")
_ASCII_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def reveal_invisible(text: str) -> str:
    """Text shown to an approver as it will act: each character strip_invisible would remove
    named where it stands (⟨U+202E⟩), so a bidi override cannot make 'evil' read 'live'; and
    a lone carriage return or a C1 control, so no terminal prints words over others."""
    if text.isascii() and not _ASCII_CONTROLS.search(text):
        return text  # most of what commands print: nothing to name, no walk through each char
    text = _TERMINAL_TRICKS.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)
    return "".join(
        f"⟨U+{ord(ch):04X}⟩"
        if ch not in KEEP and ch != "\n" and ch != "\t" and strip_invisible(ch) == ""
        else ch
        for ch in text
    )


def clean_reason(reason) -> str:
    """A reason as people will read it (admin, Stage, API, events): without the characters that
    hide or reorder text, as a proposal's title and a mission's reason are kept."""
    return strip_invisible(str(reason or "")).strip()


# Every reason a person or an agent gives (a rejection, a refusal, a lift, a pause, a close…),
# from every surface. The columns that keep one (Override.reason, Feedback.reason, …) are this
# wide; a reason past it is refused, never cut: cut, it lost its end without a word.
MAX_REASON = 500


class ReasonRefused(ValueError):
    """A reason not taken: `str()` says why in a sentence; `errors` names the field, as an
    API answer or a form does ({"reason": ["required"]})."""

    def __init__(self, message: str, *, field: str, problem: str):
        super().__init__(message)
        self.field, self.problem = field, problem

    @property
    def errors(self) -> dict:
        return {self.field: [self.problem]}


def checked_reason(reason, *, needed_by: str = "", what: str = "a reason", field="reason") -> str:
    """The reason as it will be kept (clean_reason), measured as kept: refused when `needed_by`
    (a rejection, lifting an override) needs one and nothing is left, or past MAX_REASON.
    Every boundary checks through here, so an early check and the action agree."""
    return checked_text(reason, MAX_REASON, needed_by=needed_by, what=what, field=field)


# Notes (a revision's, for the next pass; an approval's) say more than a reason by nature, so
# they may be longer; but as a reason, they are kept whole or refused, never cut.
MAX_NOTES = 4000


def checked_notes(notes, *, needed_by: str = "", field="notes") -> str:
    """Notes as they will be kept, by the rule a reason is kept by, at most MAX_NOTES."""
    return checked_text(notes, MAX_NOTES, needed_by=needed_by, what="a note", field=field)


def checked_text(text, limit: int, *, needed_by: str, what: str, field: str) -> str:
    """`text` cleaned (clean_reason), refused when `needed_by` needs some and nothing is
    left, or when it is longer than `limit` as kept: what a person gives is never cut."""
    text = clean_reason(text)
    if needed_by and not text:
        raise ReasonRefused(f"{needed_by} needs {what}", field=field, problem="required")
    if len(text) > limit:
        raise ReasonRefused(
            f"{what} is at most {limit} characters ({len(text)} given)",
            field=field,
            problem=f"at most {limit} characters",
        )
    return text
