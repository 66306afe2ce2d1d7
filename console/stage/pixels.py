"""The office's pixel art, drawn here as data: each sprite or tile is rows of characters, each
character a palette class (`.` is transparent). Rendered once per page as SVG symbols of
one-unit rects (runs merged), scaled up crisply by CSS. No third-party assets."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

# character → CSS class (colours live in stage.css; `b` takes the agent's tint)
PALETTE = {
    "k": "px-ink",
    "s": "px-skin",
    "h": "px-hair",
    "b": "px-body",
    "l": "px-legs",
    "w": "px-white",
    "d": "px-desk",
    "D": "px-desk-dark",
    "m": "px-metal",
    "M": "px-metal-dark",
    "g": "px-screen",
    "c": "px-coffee",
    "r": "px-red",
    "p": "px-plant",
    "P": "px-pot",
    "t": "px-table",
    "T": "px-table-dark",
}

SPRITES = {
    # a person in parts: a head and body for each way it faces, legs for each walk frame
    "person-front": [
        "..hhhh..",
        ".hhhhhh.",
        ".hssssh.",
        ".sksksk.",
        ".ssssss.",
        "..ssss..",
        ".bbbbbb.",
        "bbbbbbbb",
        "bsbbbbsb",
        "bsbbbbsb",
        ".bbbbbb.",
    ],
    "person-back": [
        "..hhhh..",
        ".hhhhhh.",
        ".hhhhhh.",
        ".hhhhhh.",
        ".hhhhhh.",
        "..ssss..",
        ".bbbbbb.",
        "bbbbbbbb",
        "sbbbbbbs",
        "sbbbbbbs",
        ".bbbbbb.",
    ],
    "person-side": [
        "..hhhh..",
        ".hhhhhh.",
        ".hhssss.",
        ".hhsssk.",
        ".hssssss",
        "..ssss..",
        "..bbbb..",
        ".bbbbbb.",
        ".bbsbbb.",
        ".bbbsbb.",
        "..bbbb..",
    ],
    "legs-stand": [".ll..ll.", ".ll..ll.", ".kk..kk."],
    "legs-a": [".ll..ll.", ".ll..kk.", ".kk....."],
    "legs-b": [".ll..ll.", ".kk..ll.", ".....kk."],
    "desk": [
        "....kkkkkkkk....",
        "....kggggggk....",
        "....kggggggk....",
        "....kkkkkkkk....",
        "......kMMk......",
        "dddddddddddddddd",
        "DDDDDDDDDDDDDDDD",
        "D..............D",
        "D..............D",
        "D..............D",
    ],
    "table": [
        "..tttttttttttttttttttt..",
        ".tttttttttttttttttttttt.",
        "tttttttttttttttttttttttt",
        "tttttttttttttttttttttttt",
        ".TTTTTTTTTTTTTTTTTTTTTT.",
        "..T..................T..",
        "..T..................T..",
        "..T..................T..",
    ],
    "coffee": [
        ".mmmmmm.",
        "mMMMMMMm",
        "mMrMMMMm",
        "mMMMMMMm",
        "mm....mm",
        "mm.ww.mm",
        "mm.wc.mm",
        "mmmmmmmm",
        "MMMMMMMM",
    ],
    "plant": [
        "..p..p..",
        ".ppp.pp.",
        "pp.ppp.p",
        ".pppppp.",
        "..pppp..",
        "..PPPP..",
        "..PPPP..",
        "...PP...",
    ],
}


def runs(row: str):
    """(start, length, char) for each run of one non-transparent character."""
    start = 0
    while start < len(row):
        char, end = row[start], start
        while end < len(row) and row[end] == char:
            end += 1
        if char != ".":
            yield start, end - start, char
        start = end


def symbol(name: str, rows: list[str]) -> str:
    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="1" class="{}"/>',
        (
            (x, y, length, PALETTE[char])
            for y, row in enumerate(rows)
            for x, length, char in runs(row)
        ),
    )
    width, height = max(len(r) for r in rows), len(rows)
    return format_html(
        '<symbol id="px-{}" viewBox="0 0 {} {}" width="{}" height="{}">{}</symbol>',
        name,
        width,
        height,
        width,
        height,
        rects,
    )


def office_symbols() -> str:
    return mark_safe("".join(symbol(name, rows) for name, rows in SPRITES.items()))
