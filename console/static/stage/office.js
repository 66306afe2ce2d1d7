// Walking on the office floor: the floor is a grid of 8 px tiles ("." walkable, "#" wall or
// furniture, derived by the server from where the furniture stands); an agent goes from tile to
// tile along a shortest path around the furniture, never through it.
const OfficeWalk = (function () {
  const TILE = 8;
  // Right, left, down, up: a fixed order, so the same trip takes the same path every time.
  const MOVES = [[1, 0], [-1, 0], [0, 1], [0, -1]];
  function parse(text) { return text.split("/"); }
  function open(grid, [col, row]) {
    return row >= 0 && row < grid.length && col >= 0 && col < grid[row].length && grid[row][col] === ".";
  }
  function backtrack(came, key, end) {
    const route = [];
    for (let at = end; at; at = came.get(key(at))) route.unshift(at);
    return route;
  }
  // Breadth-first search over the four neighbours: a shortest path from tile to tile (both
  // ends included), or [] when the destination is furniture or cannot be reached.
  function path(grid, from, to) {
    if (!open(grid, to)) return [];
    const key = ([col, row]) => row * 1000 + col;
    const came = new Map([[key(from), null]]);
    const queue = [from];
    for (let head = 0; head < queue.length; head += 1) {
      const here = queue[head];
      if (here[0] === to[0] && here[1] === to[1]) return backtrack(came, key, here);
      for (const [dc, dr] of MOVES) {
        const next = [here[0] + dc, here[1] + dr];
        if (open(grid, next) && !came.has(key(next))) { came.set(key(next), here); queue.push(next); }
      }
    }
    return [];
  }
  function facing([c1, r1], [c2, r2]) {
    if (c2 > c1) return "right";
    if (c2 < c1) return "left";
    return r2 < r1 ? "up" : "down";
  }
  // An agent on a tile is drawn with its sprite's feet in that tile; and back again.
  function pixels([col, row]) { return [col * TILE, row * TILE - 6]; }
  function tileAt(x, y) { return [Math.floor((x + 4) / TILE), Math.floor((y + 10) / TILE)]; }
  return { parse, open, path, facing, pixels, tileAt };
})();
window.OfficeWalk = OfficeWalk;

// The office acts the live event stream out: agents walk to the meeting table when they talk
// (their words in speech bubbles), to their desk when work runs (working for a visible moment,
// then celebrating or not), and to the coffee machine when nothing has happened for a while.
(function () {
  const office = document.querySelector("svg.office");
  if (!office) return;
  const grid = OfficeWalk.parse(office.dataset.grid);
  const seats = JSON.parse(office.dataset.tableSeats);
  const coffee = JSON.parse(office.dataset.coffeeSpots);
  const tileOf = (text) => text.split(",").map(Number);
  const same = (a, b) => a[0] === b[0] && a[1] === b[1];
  // Reduced motion: agents appear at their destination, no steps and no walk cycle.
  const still = window.matchMedia("(prefers-reduced-motion: reduce)");
  const STEP_MS = 150;
  const agents = {};
  function place(agent, tile) {
    const [x, y] = OfficeWalk.pixels(tile);
    agent.tile = tile;
    agent.el.dataset.tile = tile.join(",");
    agent.el.style.transform = `translate(${x}px, ${y}px)`;
  }
  office.querySelectorAll(".agent").forEach((el) => {
    const tile = tileOf(el.dataset.tile);
    const spot = coffee.findIndex((s) => same(s, tile));
    const tableSeat = seats.findIndex((s) => same(s, tile));
    const agent = {
      el, seat: tileOf(el.dataset.seat), lastSeen: Date.now(), atCoffee: spot >= 0, spot,
      atTable: tableSeat >= 0, tableSeat, arrive: [],
    };
    agents[el.dataset.agent] = agent;
    place(agent, tile);
    el.removeAttribute("transform");
    el.classList.add("facing-down");
  });
  const log = document.getElementById("office-log");
  function note(text) {
    if (!log) return;
    log.querySelectorAll(".quiet").forEach((q) => q.remove());
    const item = document.createElement("li");
    item.textContent = text;
    log.prepend(item);
    while (log.children.length > 12) log.lastChild.remove();
  }
  // A moment's state (celebrating, frowning) expires back to "idle": labels stay true.
  const FLEETING = { celebrating: 4000, frowning: 4000, waiting: 30000 };
  function state(agent, name) {
    agent.el.classList.forEach((c) => { if (c.startsWith("state-")) agent.el.classList.remove(c); });
    agent.el.classList.add(`state-${name}`);
    agent.el.querySelector(".state").textContent = name;
    agent.el.querySelector("title").textContent = `${agent.el.dataset.name}: ${name}`;
    clearTimeout(agent.stateTimer);
    if (FLEETING[name]) agent.stateTimer = setTimeout(() => state(agent, "idle"), FLEETING[name]);
  }
  // A state the page was drawn with that is only a moment (celebrating) expires too.
  Object.values(agents).forEach((agent) => {
    const drawn = agent.el.querySelector(".state").textContent;
    if (FLEETING[drawn]) state(agent, drawn);
  });
  function face(agent, way) {
    ["up", "down", "left", "right"].forEach((w) => agent.el.classList.toggle(`facing-${w}`, w === way));
  }
  function arrived(agent, then) {
    agent.walking = false;
    agent.el.classList.remove("stride-a", "stride-b");
    face(agent, "down");
    then();
    agent.arrive.splice(0).forEach((after) => after());
  }
  // One tile a step, the legs alternating (stride-a, stride-b) and the body facing the way it
  // goes; a new walk takes over from the tile the agent has reached.
  function walk(agent, to, then) {
    clearTimeout(agent.walkTimer);
    const route = OfficeWalk.path(grid, agent.tile, to);
    if (still.matches || route.length < 2) { place(agent, to); arrived(agent, then); return; }
    agent.walking = true;
    state(agent, "walking");
    let n = 1;
    const stride = () => {
      face(agent, OfficeWalk.facing(route[n - 1], route[n]));
      agent.el.classList.toggle("stride-a", n % 2 === 1);
      agent.el.classList.toggle("stride-b", n % 2 === 0);
      place(agent, route[n]);
      n += 1;
      agent.walkTimer = setTimeout(n < route.length ? stride : () => arrived(agent, then), STEP_MS);
    };
    stride();
  }
  function whenThere(agent, then) {
    if (agent.walking) agent.arrive.push(then); else then();
  }
  // Two lines of 22 characters at most: a word longer than a line (a link, a long compound)
  // is cut with an ellipsis, or it would run out of the bubble across the office.
  const LINE = 22;
  const fit = (word) => (word.length > LINE ? word.slice(0, LINE - 1) + "…" : word);
  function wrap(text) {
    const words = text.split(" ").map(fit);
    const lines = ["", ""];
    let line = 0;
    for (const word of words) {
      if ((lines[line] + " " + word).trim().length > LINE) line += 1;
      if (line > 1) { lines[1] = lines[1].slice(0, 19) + "…"; break; }
      lines[line] = (lines[line] + " " + word).trim();
    }
    return lines;
  }
  function say(agent, text) {
    const bubble = agent.el.querySelector(".bubble");
    // Offline words are marked once, by the bubble's "offline" tag, not spelled out in the
    // two short lines a bubble has (every page also carries the offline banner).
    const offline = text.startsWith("[offline]");
    bubble.classList.toggle("offline", offline);
    const [one, two] = wrap(offline ? text.slice("[offline]".length).trim() : text);
    bubble.querySelector(".line1").textContent = one;
    bubble.querySelector(".line2").textContent = two;
    office.querySelectorAll(".bubble.shown").forEach((b) => b.classList.remove("shown"));
    bubble.classList.add("shown");
    clearTimeout(agent.bubbleTimer);
    agent.bubbleTimer = setTimeout(() => bubble.classList.remove("shown"), 5000);
  }
  // Each at the table takes the first seat no one else holds.
  function freeSeat() {
    const held = Object.values(agents).filter((a) => a.atTable).map((a) => a.tableSeat);
    return seats.findIndex((_, n) => !held.includes(n));
  }
  function meet(people) {
    people.forEach((slug) => {
      const agent = agents[slug];
      const seat = freeSeat();
      if (!agent || agent.atTable || seat < 0) return;
      agent.atTable = true;
      agent.tableSeat = seat;
      walk(agent, seats[seat], () => state(agent, "chatting"));
    });
  }
  function disperse(people) {
    people.forEach((slug) => {
      const agent = agents[slug];
      if (!agent) return;
      agent.atTable = false;
      walk(agent, agent.seat, () => state(agent, "idle"));
    });
  }
  function work(agent, outcome) {
    // A step of a few milliseconds still shows: working at the desk for 1.5 s at least.
    const start = () => {
      state(agent, "working");
      setTimeout(() => state(agent, outcome === "succeeded" ? "celebrating" : "frowning"), 1500);
    };
    if (agent.atTable) { start(); return; }
    walk(agent, agent.seat, start);
  }
  function act(moment) {
    const agent = agents[moment.agent];
    if (agent) { agent.lastSeen = Date.now(); agent.atCoffee = false; agent.spot = -1; }
    if (moment.kind === "conversation.turn" && agent) {
      meet(moment.participants || [moment.agent]);
      whenThere(agent, () => say(agent, moment.text || ""));
      note(moment.title || `${moment.agent}: ${moment.text || ""}`);
    } else if (moment.kind.startsWith("conversation.") && moment.participants) {
      disperse(moment.participants);
    } else if (agent && /^step\.(succeeded|failed|dead)$/.test(moment.kind)) {
      work(agent, moment.kind.split(".")[1]);
      note(moment.title || `${moment.agent}: ${moment.kind}`);
    } else if (agent && moment.kind === "proposal.accepted") {
      walk(agent, agent.seat, () => state(agent, "waiting"));
    }
  }
  // Nothing for a while: off to the coffee machine, while there is room in its queue.
  // Each at its own free spot of the queue: two never stand (and print their names) as one.
  setInterval(() => {
    Object.values(agents).forEach((agent) => {
      const taken = Object.values(agents).filter((a) => a.atCoffee).map((a) => a.spot);
      const free = coffee.findIndex((_, n) => !taken.includes(n));
      if (!agent.atTable && !agent.atCoffee && free >= 0 && Date.now() - agent.lastSeen > 90000) {
        agent.atCoffee = true;
        agent.spot = free;
        walk(agent, coffee[free], () => state(agent, "coffee"));
      }
    });
  }, 10000);
  let after = office.dataset.after || 0;
  let delay = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/stage/?after=${after}`);
    socket.onopen = () => { delay = 1000; };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      after = data.last_id;
      (data.moments || []).forEach(act);
    };
    socket.onclose = (closed) => {
      if (closed.code === 4409) { location.reload(); return; }  // too far behind: redraw
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
  const board = office.querySelector("#whiteboard");
  setInterval(async () => {
    const answer = await fetch(`${location.pathname}?board=1`);
    if (!answer.ok) return;
    const b = await answer.json();
    const lines = board.querySelectorAll("text");
    lines[0].textContent = `missions today ${b.missions_today}`;
    lines[1].textContent = `success ${b.success_rate === null ? "–" : b.success_rate + "%"}`;
    lines[2].textContent = `queue ${b.queue_depth}`;
    lines[3].textContent = `LLM today ${b.llm_spend}`;
  }, 30000);
})();
