// The same socket keeps the approvals and the inbox live: a moment that changes what waits for
// a person refetches that panel (each user's own view: who may approve differs by user).
const PANEL_KINDS = {
  "approvals-changed": /^(proposal\.|coding\.(run\.|approved|approval))/,
  "inbox-changed": /^(standing_order\.|opportunity\.|outbox\.|breaker\.)/,
  "conversations-changed": /^conversation\./,
};
// A decision this page just made already re-rendered the panel (with its "accepted" line):
// a decided proposal refetches only while its card is still on show (someone else decided).
// A turn matters to the conversations list only when its conversation is not listed yet (its
// first turn); its end always does (the status changes).
function matters(moment) {
  if (moment.kind === "conversation.turn") {
    return !document.getElementById(`conversation-${moment.conversation_id}`);
  }
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
    socket.onclose = (closed) => {
      if (closed.code === 4409) { location.reload(); return; }  // too far behind: redraw
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
})();

// A page with live panels and no feed (the conversations list) listens on the same socket,
// from the newest event it was drawn with, and refetches what a moment changes.
(function () {
  const panel = document.querySelector("[data-stage-socket]");
  if (!panel || document.getElementById("feed")) return;
  let after = panel.dataset.stageSocket || 0;
  let delay = 1000;
  let opened = false;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/stage/?after=${after}`);
    socket.onopen = () => {
      delay = 1000;
      if (opened) refreshPanels(null);
      opened = true;
    };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      after = data.last_id;
      refreshPanels(data.moments || []);
    };
    socket.onclose = (closed) => {
      if (closed.code === 4409) { location.reload(); return; }  // too far behind: redraw
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
})();

// The health strip's refresh every 10 s replaces its markup: a strip someone opened on a
// phone stays open (and a closed one closed) across refreshes.
(function () {
  let open = null;
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target.id !== "health") return;
    const strip = event.detail.target.querySelector(".health-compact");
    open = strip ? strip.open : null;
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "health" || open === null) return;
    const strip = event.detail.target.querySelector(".health-compact");
    if (strip) strip.open = open;
  });
})();

// On a phone the swimlane scrolls sideways at a readable scale: it opens at "now", where the
// work is (its refreshes swap the inside, so the reader's scroll position stays).
(function () {
  const lane = document.getElementById("swimlane");
  if (lane && lane.scrollWidth > lane.clientWidth) lane.scrollLeft = lane.scrollWidth;
})();

// On a phone the office scrolls sideways too: it opens on the meeting table, where
// conversations are acted out (the whiteboard and coffee machine beside it), not on the far wall.
(function () {
  const office = document.getElementById("office");
  const table = office && office.querySelector(".meeting-table");
  if (!table || office.scrollWidth <= office.clientWidth) return;
  const box = table.getBoundingClientRect();
  const frame = office.getBoundingClientRect();
  office.scrollLeft += box.left + box.width / 2 - (frame.left + frame.width / 2);
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
    // an action refused (403, console/stage/access.py) says why: nothing to retry
    if (status === 403 && /^<p class="bad refused"/.test(event.detail.xhr.responseText)) {
      panel.innerHTML = event.detail.xhr.responseText;
      return;
    }
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
