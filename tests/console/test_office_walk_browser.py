"""The office in a real browser at 1440 and 390 px: agents walk tile by tile around the
furniture (never through a desk, the table or the coffee machine), their legs alternating and
their bodies facing the way they go; with reduced motion they appear at their destination.
Screenshots go to tests/artifacts/ (or OPS_SHOTS_DIR)."""

import itertools
import os
import random
from pathlib import Path

import pytest

from roundtable.lifecycle import claim_conversation, request_conversation
from roundtable.speaking import run_conversation
from tests.console.test_stage_browser import CHROMIUM, FLAGS, require_browser, server  # noqa: F401
from tests.factories import AgentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("OPS_SHOTS_DIR") or Path(__file__).parent.parent / "artifacts")
SLUGS = ("devops", "auditor", "scout", "writer")

# Every trip between every spot the office knows (desk seats, table seats, coffee queue),
# planned by the page's own path function, plus a wall with one gap and a trip into furniture.
TRIPS = """() => {
  const office = document.querySelector("svg.office");
  const grid = OfficeWalk.parse(office.dataset.grid);
  const spots = [
    ...[...office.querySelectorAll(".agent")].map((a) => a.dataset.seat.split(",").map(Number)),
    ...JSON.parse(office.dataset.tableSeats), ...JSON.parse(office.dataset.coffeeSpots),
  ];
  const trip = (from) => (to) => [from, to, OfficeWalk.path(grid, from, to)];
  const trips = spots.flatMap((from) => spots.map(trip(from)));
  const wall = ["......", "####.#", "......"];
  return {
    grid, trips,
    around: OfficeWalk.path(wall, [0, 0], [0, 2]),
    again: OfficeWalk.path(grid, spots[0], spots[spots.length - 1]), last: spots.length - 1,
    intoFurniture: OfficeWalk.path(wall, [0, 0], [0, 1]),
  };
}"""

# Every animation frame: where each agent is drawn (its transform as the browser renders it,
# mid-step included) and its classes; and every class an agent ever had, even for less than a
# frame (a mutation observer keeps each old value).
SAMPLE = """() => {
  window.samples = [];
  window.classHistory = [];
  new MutationObserver((records) => records.forEach((r) => {
    window.classHistory.push(r.oldValue || "", r.target.getAttribute("class"));
  })).observe(document.querySelector("svg.office"), {
    subtree: true, attributeFilter: ["class"], attributeOldValue: true,
  });
  const tick = () => {
    document.querySelectorAll("svg.office .agent").forEach((el) => {
      const m = new DOMMatrix(getComputedStyle(el).transform);
      const classes = el.getAttribute("class");
      window.samples.push({ agent: el.dataset.agent, x: m.e, y: m.f, classes });
    });
    if (!window.stopSampling) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def walkable(grid, tile) -> bool:
    col, row = tile
    return 0 <= row < len(grid) and 0 <= col < len(grid[row]) and grid[row][col] == "."


def assert_paths_keep_to_the_floor(page):
    found = page.evaluate(TRIPS)
    grid = found["grid"]
    assert any("#" in row[:30] for row in grid[12:])  # desks and the table are obstacles
    for start, end, route in found["trips"]:
        assert route[0] == start and route[-1] == end, (start, end)
        assert all(walkable(grid, tile) for tile in route), (start, end)
        steps = itertools.pairwise(route)
        assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in steps)
    assert [4, 1] in found["around"] and all(
        walkable(["......", "####.#", "......"], t) for t in found["around"]
    )
    assert found["again"] == found["trips"][found["last"]][2]  # the same trip, the same path
    assert found["intoFurniture"] == []
    return grid


def tile_of(x, y) -> tuple[int, int]:
    """The tile under a sprite's feet (the page draws an agent on (c, r) at (8c, 8r - 6))."""
    return int((x + 4) // 8), int((y + 10) // 8)


def start_a_talk(pause):
    talk = request_conversation("debate", ["devops", "writer"], "disk quotas", source="op")
    claimed = claim_conversation("w1")
    assert claimed.id == talk.id
    run_conversation(claimed, random.Random(3), pause=pause)


def walk_around_the_furniture(page, grid, width):
    from playwright.sync_api import expect

    page.evaluate(SAMPLE)
    start_a_talk(pause=0.3)
    page.wait_for_function("window.classHistory.some((c) => c.includes('stride-'))")
    page.screenshot(path=str(SHOTS / f"office-walking-{width}.png"))
    expect(page.locator(".agent.state-walking")).to_have_count(0, timeout=15_000)
    samples = page.evaluate("window.stopSampling = true; window.samples")
    walkers = [s for s in samples if s["agent"] in ("devops", "writer")]
    tiles = {tile_of(s["x"], s["y"]) for s in walkers}
    assert len(tiles) > 10, "they walked, tile by tile"
    off_floor = [t for t in tiles if not walkable(grid, t)]
    assert off_floor == [], "an agent stood on furniture"
    classes = " ".join(page.evaluate("window.classHistory"))
    assert "stride-a" in classes and "stride-b" in classes  # the legs alternate
    assert "facing-up" in classes or "facing-left" in classes or "facing-right" in classes
    page.screenshot(path=str(SHOTS / f"office-walked-{width}.png"), full_page=True)


def arrive_without_walking(browser, base):
    """Reduced motion: a move shows the agent at its destination, no steps in between."""
    page = browser.new_page(viewport={"width": 1440, "height": 900}, reduced_motion="reduce")
    page.goto(f"{base}/stage/office")
    page.wait_for_timeout(500)  # the websocket connects
    page.evaluate(SAMPLE)
    start_a_talk(pause=0.3)
    page.wait_for_function("window.classHistory.some((c) => c.includes('state-chatting'))")
    history = page.evaluate("window.stopSampling = true; window.classHistory")
    assert not any("stride-" in c or "state-walking" in c for c in history)


def test_agents_walk_tile_by_tile_around_the_furniture(server, monkeypatch):  # noqa: F811
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    for slug in SLUGS:
        AgentFactory(slug=slug)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for width in (1440, 390):
            page = browser.new_page(viewport={"width": width, "height": 844})
            csp = []
            page.on("console", lambda m, csp=csp: csp.append(m.text) if "Content" in m.text else 0)
            page.goto(f"{server}/stage/office")
            expect(page.locator(".office .agent")).to_have_count(4)
            grid = assert_paths_keep_to_the_floor(page)
            page.wait_for_timeout(500)  # the websocket connects
            walk_around_the_furniture(page, grid, width)
            assert csp == []
            page.close()
        arrive_without_walking(browser, server)
        browser.close()
