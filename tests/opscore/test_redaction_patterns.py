"""What the two patterns keep of a match and what they leave alone (redact_text, redact)."""

from opscore.redaction import redact, redact_text


def test_a_bearer_value_and_an_agent_token_keep_only_their_prefix():
    text = "Authorization: Bearer abcdefghijklmnop; BEARER\tzyxwvuts9; key opsa_AbCd0123456789xyzW"

    assert redact_text(text) == (
        "Authorization: Bearer [redacted]; BEARER\t[redacted]; key opsa_AbCd[redacted]"
    )


def test_text_with_nothing_secret_looking_is_left_as_written():
    text = r"bearer short, opsa_tiny, a literal \1 and \g<1>"

    assert redact_text(text) == text
    assert redact({"ok": True, "note": text}) == {"ok": True, "note": text}


def test_a_count_under_a_secret_looking_key_stays_readable_and_words_do_not():
    """`input_tokens: 1200` in a runtime's result was stored as [redacted]: a key naming
    tokens or a password masks what could be one (words, lists, objects), never a number or
    a flag, which no secret here is."""
    reported = {
        "input_tokens": 1200,
        "cost_per_token": 0.25,
        "password_set": True,
        "api_key": None,
        "token": "tok-abcdefgh",
        "tokens": ["tok-abcdefgh"],
        "auth": {"password": "hunter2hunter2"},
    }

    assert redact(reported) == {
        "input_tokens": 1200,
        "cost_per_token": 0.25,
        "password_set": True,
        "api_key": None,
        "token": "[redacted]",
        "tokens": "[redacted]",
        "auth": {"password": "[redacted]"},
    }
