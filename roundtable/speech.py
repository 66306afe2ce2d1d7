"""Pure rules of a conversation: who speaks next, how, and what a turn may contain."""

import re

MAX_TURN = 120
URL = re.compile(r"(https?://|www\.)\S+", re.I)
TAG = re.compile(r"<[^>]*>")
MARKUP = re.compile(r"[*_`#>\[\]|~]+")


def sanitize_turn(text: str, fallback: str) -> str:
    """≤ 120 characters of plain speech: no URLs, no markup, never empty."""
    from missions.text import strip_invisible

    text = URL.sub("", strip_invisible(text))
    text = MARKUP.sub("", TAG.sub("", text))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_TURN:
        cut = text[: MAX_TURN - 1].rsplit(" ", 1)[0]
        text = (cut or text[: MAX_TURN - 1]) + "…"
    return text or fallback[:MAX_TURN] or "…"


def next_speaker(participants, last, spoken_counts, affinity, rand):
    """Weighted choice: affinity to the last speaker (weight 0.6), a recency penalty
    (weight 0.4) and ±0.2 jitter; never the same speaker twice in a row."""
    candidates = [p for p in participants if p != last]
    total_turns = max(sum(spoken_counts.values()), 1)

    def weight(candidate):
        closeness = affinity(last, candidate) if last else 0.5
        freshness = 1 - spoken_counts.get(candidate, 0) / total_turns
        return max(closeness * 0.6 + freshness * 0.4 + rand.uniform(-0.2, 0.2), 0.01)

    weights = [weight(c) for c in candidates]
    return rand.choices(candidates, weights=weights, k=1)[0]


def interaction_for(tension: float, rand) -> str:
    """High tension (1 - affinity) leans critical or challenging; low tension, supportive."""
    if tension > 0.6:
        return rand.choice(["critical", "challenge"])
    if tension < 0.4:
        return rand.choice(["supportive", "supportive", "agreement"])
    return rand.choice(["neutral", "question", "supportive", "challenge"])
