"""A digest is stored with what a person approved (Step.approved_digest, words and proposal
cards) and recomputed at execution: the canonical bytes must never change, however they are
produced."""

import math

import pytest

from opscore.digests import canonical_json, content_digest


def test_canonical_json_is_sorted_compact_utf8():
    value = {"kind": "post", "payload": {"b": [1.5, None, True], "a": "café ✓"}, "agent": "x"}

    assert canonical_json(value) == (
        '{"agent":"x","kind":"post","payload":{"a":"café ✓","b":[1.5,null,true]}}'.encode()
    )
    assert content_digest(value) == content_digest(dict(reversed(list(value.items()))))


def test_a_value_json_cannot_carry_is_refused():
    with pytest.raises(ValueError):
        canonical_json({"n": math.nan})
