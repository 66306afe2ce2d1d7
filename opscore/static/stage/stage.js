// Live feed: new events arrive as rendered rows over the websocket; a reconnect resumes from the
// last id the page has, so nothing is missed. Rows are prepended without touching the rows a
// reader is looking at.
(function () {
  const feed = document.getElementById("feed");
  if (!feed || feed.dataset.live !== "on") return;
  let delay = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/ws/stage/?after=${feed.dataset.lastId || 0}`;
    const socket = new WebSocket(url);
    socket.onopen = () => { delay = 1000; };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      const scrolled = window.scrollY;
      const before = document.body.scrollHeight;
      feed.insertAdjacentHTML("afterbegin", data.html);
      feed.dataset.lastId = data.last_id;
      if (scrolled > 0) window.scrollTo(0, scrolled + document.body.scrollHeight - before);
      while (feed.children.length > 500) feed.lastElementChild.previousElementSibling.remove();
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
    panel.innerHTML = '<p class="bad panel-error">This panel could not load. ' +
      '<button type="button" class="retry">Retry</button></p>';
    panel.querySelector(".retry").addEventListener("click", () => {
      window.htmx.ajax("GET", url, { target: panel, swap: "innerHTML" });
    });
  }
  document.body.addEventListener("htmx:responseError", fail);
  document.body.addEventListener("htmx:sendError", fail);
})();
