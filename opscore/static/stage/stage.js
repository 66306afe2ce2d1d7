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
