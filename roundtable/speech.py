"""Pure rules of a conversation: who speaks next, how, and what a turn may contain."""

import re

MAX_TURN = 120
OFFLINE_MARK = "[offline] "
SILENT = "(says nothing)"  # a turn whose reply had no words of its own
URL = re.compile(r"(https?://|www\.)\S+", re.I)
TAG = re.compile(r"<[^>]*>")
MARKUP = re.compile(r"[*_`#>\[\]|~]+")
C1_CONTROL = re.compile("[\x80-\x9f]")  # kept by strip_invisible; a terminal may obey one (CSI)
LINE_BREAK = re.compile("\r\n?|[\x85\u2028\u2029]")


def plain(text: str) -> str:
    """The reply without what a turn never keeps (invisible characters, links, tags, markup),
    every line break a newline: what own_words reads. Hidden behind
    them ("<b>security</b>:", a zero-width space inside it, a U+2028 break), another
    speaker's label passed its check, and sanitize_turn then took them out: the label stood
    in the turn under the speaker's name."""
    from missions.text import strip_invisible

    text = LINE_BREAK.sub("\n", text)
    return MARKUP.sub("", TAG.sub("", URL.sub("", strip_invisible(text))))


def sanitize_turn(text: str, fallback: str) -> str:
    """≤ 120 characters of plain speech: no URLs, no markup, no controls, never empty. The
    offline provider's "[offline]" mark is kept as it is: a reader must see it."""
    offline = text.startswith(OFFLINE_MARK)
    text = plain(text.removeprefix(OFFLINE_MARK))
    text = C1_CONTROL.sub("", re.sub(r"\s+", " ", text)).strip()
    if len(text) > MAX_TURN:
        cut = text[: MAX_TURN - 1].rsplit(" ", 1)[0]
        text = (cut or text[: MAX_TURN - 1]) + "…"
    text = text or fallback[:MAX_TURN] or "…"
    return f"{OFFLINE_MARK}{text}"[:MAX_TURN] if offline else text


def own_words(text: str, speaker: str, participants) -> str:
    """The reply as its speaker's own line. A label naming the speaker is dropped; where the
    reply goes on as a transcript (a line, or a sentence, opening "security:"), it ends: kept
    under the speaker's name, every later prompt and the distillation would read those words as
    that participant's. The transcript names speakers by slug, so models echo slugs."""
    text = re.sub(rf"^\s*{labelled([speaker])}", "", text, count=1, flags=re.I)
    line = r"(?:^|\n|(?<=[.!?])\s)\s*(?:[-+•]\s*)?"  # a line, a list item or a sentence
    found = re.search(line + labelled(participants), text, flags=re.I)
    return text[: found.start()].strip() if found else text.strip()


def labelled(slugs) -> str:
    """A pattern for "slug:" as a transcript line opens, bold or not, for any of `slugs`."""
    names = "|".join(re.escape(s) for s in sorted(slugs, key=len, reverse=True))
    return rf"[*_]*(?:{names})[*_]*\s*:"


def speaker_weight(candidate, last, spoken_counts, affinity, rand) -> float:
    """The tutorial's weight: base 1.0 + affinity to the last speaker * 0.6 - recency * 0.4
    ± 0.2 jitter; the last speaker 0. Recency is the candidate's share of the turns so far."""
    if candidate == last:
        return 0.0
    closeness = affinity(last, candidate) if last else 0.5
    recency = spoken_counts.get(candidate, 0) / max(sum(spoken_counts.values()), 1)
    return max(1.0 + closeness * 0.6 - recency * 0.4 + rand.uniform(-0.2, 0.2), 0.01)


def next_speaker(participants, last, spoken_counts, affinity, rand):
    """A weighted choice by `speaker_weight`; never the same speaker twice in a row."""
    candidates = [p for p in participants if p != last]
    weights = [speaker_weight(c, last, spoken_counts, affinity, rand) for c in candidates]
    return rand.choices(candidates, weights=weights, k=1)[0]


def interaction_for(tension: float, rand) -> str:
    """Tension = 1 - affinity. Above 0.6: a challenge one time in five, else critical; below
    0.3: supportive two times in five, else agreement; in between, neutral."""
    if tension > 0.6:
        return "challenge" if rand.random() < 0.2 else "critical"
    if tension < 0.3:
        return "supportive" if rand.random() < 0.4 else "agreement"
    return "neutral"


OFFLINE_LINES = {
    "supportive": "I'm with you on {topic}; let's build on it.",
    "agreement": "Agreed, {topic} is worth our time.",
    "neutral": "On {topic}, what do we actually know so far?",
    "critical": "I'm not convinced about {topic} yet.",
    "challenge": "Hold on: where is the evidence on {topic}?",
}


def offline_line(interaction: str, topic: str, signature: str, spoken: int) -> str:
    """A readable stand-in turn for the offline provider (which marks it [offline]): a short
    sentence in the turn's tone about the topic, with the speaker's signature on their first
    turn. Deterministic, so an offline conversation reads the same every time. A topic that is
    a sentence ("how strict should approvals be?") is quoted: set bare inside a line, its
    punctuation ran into the line's ("be?, what do we…")."""
    short = topic if len(topic) <= 50 else topic[:49].rsplit(" ", 1)[0] + "…"
    if short.endswith(("?", "!", ".")):
        short = f"“{short}”"
    line = OFFLINE_LINES.get(interaction, OFFLINE_LINES["neutral"]).format(topic=short)
    if signature and spoken == 0:
        line = f"{signature} {line}"
    return line
