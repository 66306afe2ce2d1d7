"""The office floor as tiles: the furniture makes the tiles it stands on unwalkable, and every
spot an agent is sent to (its desk seat, a seat at the table, a place in the coffee queue) is
floor that can be reached from every other."""

from console.stage import floor


def reachable(grid, start) -> set[tuple[int, int]]:
    seen, todo = {start}, [start]
    while todo:
        col, row = todo.pop()
        for c, r in ((col + 1, row), (col - 1, row), (col, row + 1), (col, row - 1)):
            inside = 0 <= r < len(grid) and 0 <= c < len(grid[r])
            if inside and grid[r][c] == "." and (c, r) not in seen:
                seen.add((c, r))
                todo.append((c, r))
    return seen


def tiles_under(x, y, width, height) -> set[tuple[int, int]]:
    return {
        (col, row)
        for col in range(x // floor.TILE, (x + width - 1) // floor.TILE + 1)
        for row in range(y // floor.TILE, (y + height - 1) // floor.TILE + 1)
    }


def test_it_blocks_every_tile_under_the_furniture_and_the_wall():
    grid = floor.walkable(10)

    for piece in floor.furniture(10):
        assert {grid[r][c] for c, r in tiles_under(*piece)} == {"#"}, piece
    assert set(grid[0]) == {"#"}
    assert grid[12].count(".") > 30


def test_every_spot_is_floor_and_reachable_from_every_other():
    grid = floor.walkable(10)
    spots = [floor.seat_of(n) for n in range(10)] + floor.TABLE_SEATS + floor.COFFEE_SPOTS

    assert len(set(spots)) == len(spots)
    assert all(grid[row][col] == "." for col, row in spots)
    assert set(spots) <= reachable(grid, spots[0])


def test_a_desk_only_blocks_the_floor_when_its_agent_is_there():
    one, ten = floor.walkable(1), floor.walkable(10)

    x, y = floor.desk_of(9)
    col, row = x // floor.TILE + 1, y // floor.TILE
    assert one[row][col] == "." and ten[row][col] == "#"
