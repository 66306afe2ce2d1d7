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
