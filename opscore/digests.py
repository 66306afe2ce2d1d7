"""What a human approved, as one hash: the sha256 of a canonical JSON of exactly the fields
that will be executed. The same value always gives the same bytes (sorted keys, no spaces,
UTF-8), so execution can recompute it and refuse anything changed since."""

import hashlib
import json


def canonical_json(value) -> bytes:
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode()


def content_digest(value) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()
