// The same socket keeps the approvals and the inbox live: a moment that changes what waits for
// a person refetches that panel (each user's own view: who may approve differs by user).
const PANEL_KINDS = {
  "approvals-changed": /^(proposal\.|coding\.(run\.|approved|approval))/,
  "inbox-changed": /^(standing_order\.|opportunity\.|outbox\.|breaker\.)/,
};
// A decision this page just made already re-rendered the panel (with its "accepted" line):
// a decided proposal refetches only while its card is still on show (someone else decided).
function matters(moment) {
  if (!/^proposal\.(accepted|rejected)$/.test(moment.kind)) return true;
  return Boolean(document.getElementById(`approval-${moment.proposal}`));
}
function refreshPanels(moments) {
  Object.entries(PANEL_KINDS).forEach(([name, kinds]) => {
    if (moments === null || moments.some((m) => kinds.test(m.kind) && matters(m))) {
      document.body.dispatchEvent(new CustomEvent(name));
    }
  });
}
// Live feed: new events arrive as rendered rows over the websocket; a reconnect resumes from the
// last id the page has, so nothing is missed. Rows are prepended without touching the rows a
// reader is looking at.
(function () {
  const feed = document.getElementById("feed");
  if (!feed) return;
  const live = feed.dataset.live === "on";
  let delay = 1000;
  let opened = false;
  // Only a window of rows lives in the DOM; trimmed rows come back through "load older".
  function trim() {
    const rows = feed.querySelectorAll(".event");
    if (rows.length <= 500 || feed.scrollTop > 0) return;
    for (let i = 500; i < rows.length; i += 1) rows[i].remove();
    const last = feed.querySelectorAll(".event")[499];
    const more = feed.querySelector(".more");
    if (last && more) {
      const url = new URL(more.getAttribute("hx-get"), location.href);
      url.searchParams.set("before", last.id.replace("event-", ""));
      more.setAttribute("hx-get", url.pathname + url.search);
      window.htmx.process(more);
    }
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/ws/stage/?after=${feed.dataset.lastId || 0}`;
    const socket = new WebSocket(url);
    socket.onopen = () => {
      delay = 1000;
      if (opened) refreshPanels(null);  // back after a drop: catch the panels up too
      opened = true;
    };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      refreshPanels(data.moments || []);
      if (!live) { feed.dataset.lastId = data.last_id; return; }
      // Keep what the reader is looking at still: if they scrolled down the feed, move the
      // scroll position by exactly the height the new rows added.
      const reading = feed.scrollTop > 0;
      const before = feed.scrollHeight;
      feed.insertAdjacentHTML("afterbegin", data.html);
      feed.dataset.lastId = data.last_id;
      if (reading) feed.scrollTop += feed.scrollHeight - before;
      trim();
    };
    socket.onclose = () => { setTimeout(connect, delay); delay = Math.min(delay * 2, 15000); };
  }
  connect();
})();

// Mission playback: play / pause / step through the mission's events.
(function () {
  const timeline = document.getElementById("timeline");
  if (!timeline) return;
  const moments = Array.from(timeline.querySelectorAll(".moment"));
  const position = document.getElementById("position");
  let index = 0;
  let timer = null;
  function show(i) {
    moments.forEach((m, n) => m.classList.toggle("current", n === i));
    moments.forEach((m, n) => m.classList.toggle("future", n > i));
    position.textContent = moments.length ? `${i + 1} / ${moments.length}` : "";
  }
  function step() {
    if (index < moments.length - 1) { index += 1; show(index); } else { pause(); }
  }
  function pause() { clearInterval(timer); timer = null; }
  document.getElementById("play").addEventListener("click", () => {
    if (!timer) timer = setInterval(step, 1500);
  });
  document.getElementById("pause").addEventListener("click", pause);
  document.getElementById("step").addEventListener("click", () => { pause(); step(); });
  show(index);
})();

// Each panel fails alone: a failed refresh shows a message and a retry inside that panel.
(function () {
  function fail(event) {
    const panel = event.detail.target;
    const url = event.detail.requestConfig && event.detail.requestConfig.path;
    if (!panel || !url) return;
    const status = event.detail.xhr && event.detail.xhr.status;
    const why = status === 503 ? "Database unavailable." : "This panel could not load.";
    panel.innerHTML = '<p class="bad panel-error">' + why + ' ' +
      '<button type="button" class="retry">Retry</button></p>';
    panel.querySelector(".retry").addEventListener("click", () => {
      window.htmx.ajax("GET", url, { target: panel, swap: "innerHTML" });
    });
  }
  document.body.addEventListener("htmx:responseError", fail);
  document.body.addEventListener("htmx:sendError", fail);
})();

// Give task: only the chosen kind's fields are shown and submitted (the others are disabled),
// also after htmx swaps a fresh or corrected form in.
(function () {
  function showFieldsOf(form) {
    const kind = form.querySelector(".task-kind");
    if (!kind) return;
    form.querySelectorAll(".kind-fields").forEach((fieldset) => {
      const mine = fieldset.dataset.kind === kind.value;
      fieldset.disabled = !mine;
      fieldset.hidden = !mine;
    });
  }
  document.addEventListener("change", (event) => {
    if (event.target.matches(".task-kind")) showFieldsOf(event.target.form);
  });
  document.querySelectorAll(".give-task").forEach(showFieldsOf);
  document.body.addEventListener("htmx:afterSwap", () => {
    document.querySelectorAll(".give-task").forEach(showFieldsOf);
  });
})();

// The office acts the live event stream out: agents walk to the meeting table when they talk
// (their words in speech bubbles), to their desk when work runs (working for a visible moment,
// then celebrating or not), and to the coffee machine when nothing has happened for a while.
(function () {
  const office = document.querySelector("svg.office");
  if (!office) return;
  const seats = JSON.parse(office.dataset.tableSeats);
  const coffee = JSON.parse(office.dataset.coffeeSpots);
  const agents = {};
  office.querySelectorAll(".agent").forEach((el, index) => {
    const [sx, sy] = el.dataset.seat.split(",").map(Number);
    const atCoffee = coffee.some(([x, y]) => x === Number(el.dataset.x) && y === Number(el.dataset.y));
    const spot = coffee.findIndex(([x, y]) => x === Number(el.dataset.x) && y === Number(el.dataset.y));
    agents[el.dataset.agent] = { el, index, seat: [sx, sy], busyUntil: 0, lastSeen: Date.now(), atCoffee, spot };
    el.style.transform = `translate(${el.dataset.x}px, ${el.dataset.y}px)`;
    el.removeAttribute("transform");
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
  function walk(agent, [x, y], then) {
    agent.el.style.transform = `translate(${x}px, ${y}px)`;
    state(agent, "walking");
    setTimeout(then, 1300);
  }
  function wrap(text) {
    const words = text.split(" ");
    const lines = ["", ""];
    let line = 0;
    for (const word of words) {
      if ((lines[line] + " " + word).trim().length > 22) line += 1;
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
  function meet(people) {
    people.forEach((slug, n) => {
      const agent = agents[slug];
      if (!agent || agent.atTable) return;
      agent.atTable = true;
      walk(agent, seats[n % seats.length], () => state(agent, "chatting"));
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
      agent.busyUntil = Date.now() + 1500;
      setTimeout(() => state(agent, outcome === "succeeded" ? "celebrating" : "frowning"), 1500);
    };
    if (agent.atTable) { start(); return; }
    walk(agent, agent.seat, start);
  }
  function leaveCoffee(agent) {
    agent.atCoffee = false;
    agent.spot = -1;
  }
  function act(moment) {
    const agent = agents[moment.agent];
    if (agent) { agent.lastSeen = Date.now(); leaveCoffee(agent); }
    if (moment.kind === "conversation.turn" && agent) {
      meet(moment.participants || [moment.agent]);
      setTimeout(() => say(agent, moment.text || ""), agent.atTable ? 0 : 1300);
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
    socket.onclose = () => { setTimeout(connect, delay); delay = Math.min(delay * 2, 15000); };
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
