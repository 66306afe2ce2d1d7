"""A gzip or deflate body inflated in bounded pieces, as it arrives: whoever reads it counts
what it inflates to and stops at its cap, so a small body that inflates to gigabytes (a gzip
bomb) is never held whole. httpx's own decoder inflates each read whole: a 64 KiB read of
such a body is 64 MiB at once. The crawler and the model providers' client read through it."""

import sys
import zlib
from collections.abc import Callable, Iterator

# What we can inflate with a cap; an answer in any other encoding is refused.
ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024  # the most one step of inflating holds


class NotInflatable(ValueError):
    """An encoding we do not take, or a body that does not decompress."""


def inflater(encoding: str, refused: Callable[[str], Exception] = NotInflatable):
    """A function (raw bytes, room) → decoded pieces of at most PIECE bytes, totalling at most
    `room`; `refused(reason)` is raised for an encoding we do not take or a broken body."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return lambda raw, room=sys.maxsize: [raw]
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise refused(f"content-encoding {encoding!r} is not accepted")
    stream = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # gzip or zlib header

    def inflate(raw: bytes, room: int = sys.maxsize) -> Iterator[bytes]:
        try:
            while raw and room > 0:
                piece = stream.decompress(raw, min(room, PIECE))
                room -= len(piece)
                raw = stream.unconsumed_tail
                yield piece
        except zlib.error as error:
            raise refused(f"the {encoding} body does not decompress: {error}") from None

    return inflate


def inflated(chunks, encoding: str, refused=NotInflatable) -> Iterator[bytes]:
    """Every decoded piece of a body's raw `chunks`, each at most PIECE bytes."""
    inflate = inflater(encoding, refused)
    for raw in chunks:
        yield from inflate(raw)
