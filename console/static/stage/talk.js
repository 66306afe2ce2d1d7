// A thread page refreshes its fragment when the live feed says someone wrote on it. Its socket
// follows on from the newest event the page was drawn with, and a reconnect from the last it
// had: a comment written meanwhile is caught up, never skipped by starting from "now".
(() => {
  const thread = document.getElementById("thread");
  if (!thread || !window.htmx) return;
  let after = thread.dataset.after || 0;
  let delay = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/stage/?after=${after}`);
    socket.onopen = () => { delay = 1000; };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.last_id) after = data.last_id;
      const mine = (data.moments || []).some(
        (m) => m.kind === "thread.comment" && m.thread === thread.dataset.thread,
      );
      if (mine) htmx.trigger(thread, "thread-changed");
    };
    socket.onclose = (closed) => {
      if (closed.code === 4409) { location.reload(); return; }  // too far behind: redraw
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
})();
