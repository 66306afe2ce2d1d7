"""The office floor plan on a grid of 8 px tiles. Agents stand on tiles and walk from tile to
tile around the furniture (the page finds the path); which tiles are walkable is derived here
from where the furniture stands, so moving a desk moves the obstacle with it.

An agent on tile (col, row) is drawn with its 8 by 14 sprite's feet in that tile. Spots are far
enough apart that no two agents' name or state labels overprint (a name is ~24 px wide at 4 px
monospace)."""

TILE = 8
COLS, ROWS = 40, 25  # the 320 by 200 scene
FLOOR_TOP = 64  # the wall above is not floor
PLANTS = [(2, 62), (160, 62)]  # drawn 8 by 8
TABLE = (216, 104)  # drawn 56 by 12
COFFEE = (296, 152)  # drawn 8 by 9
DESK_SIZE = (16, 10)
TABLE_SEATS = [(26, 11), (30, 11), (34, 11), (26, 16), (30, 16), (34, 16)]  # tiles
# Tiles: a queue of three at most, beside the machine. The first stands a tile clear of it: a
# step closer, its "coffee" state printed over the machine's "coffee" label on a phone (the
# labels there are 5.6 px, each about 20 px wide, centred 16 px apart).
COFFEE_SPOTS = [(34, 20), (32, 21), (29, 22)]


def desk_of(index: int) -> tuple[int, int]:
    """A desk's top-left pixel: five to a row, centred over its agent's seat tile with a row
    of floor between them (the agent's state label prints there, clear of the desk)."""
    col, row = seat_of(index)
    return col * TILE - 4, (row - 3) * TILE


def seat_of(index: int) -> tuple[int, int]:
    """The tile in front of an agent's desk."""
    return 2 + (index % 5) * 5, 17 + (index // 5) * 6


def sprite_at(tile: tuple[int, int]) -> tuple[int, int]:
    """Where an agent standing on a tile is drawn (its sprite's top-left pixel)."""
    col, row = tile
    return col * TILE, row * TILE - 6


def furniture(desks: int) -> list[tuple[int, int, int, int]]:
    """Every piece's footprint as (x, y, width, height) in pixels."""
    pieces = [(x, y, 8, 8) for x, y in PLANTS]
    pieces += [(*TABLE, 56, 12), (*COFFEE, 8, 9)]
    pieces += [(*desk_of(n), *DESK_SIZE) for n in range(desks)]
    return pieces


def _blocked(col: int, row: int, pieces) -> bool:
    left, top = col * TILE, row * TILE
    if top < FLOOR_TOP:
        return True
    return any(
        left < x + w and x < left + TILE and top < y + h and y < top + TILE for x, y, w, h in pieces
    )


def walkable(desks: int) -> list[str]:
    """The floor as rows of `.` (walkable) and `#` (wall or furniture), one character a tile."""
    pieces = furniture(desks)
    return [
        "".join("#" if _blocked(col, row, pieces) else "." for col in range(COLS))
        for row in range(ROWS)
    ]
