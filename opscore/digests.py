"""What a human approved, as one hash: the sha256 of a canonical JSON of exactly the fields
that will be executed. The same value always gives the same bytes (sorted keys, no spaces,
UTF-8), so execution can recompute it and refuse anything changed since."""

import hashlib
import json

# One encoder for every digest: json.dumps given options builds a new encoder on each call,
# and a worker digests every step it runs (missions.binding).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value) -> bytes:
    return _CANONICAL.encode(value).encode()


def content_digest(value) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()
