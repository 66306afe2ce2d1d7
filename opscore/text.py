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
    reason = clean_reason(reason)
    if needed_by and not reason:
        raise ReasonRefused(f"{needed_by} needs {what}", field=field, problem="required")
    if len(reason) > MAX_REASON:
        raise ReasonRefused(
            f"{what} is at most {MAX_REASON} characters ({len(reason)} given)",
            field=field,
            problem=f"at most {MAX_REASON} characters",
        )
    return reason
