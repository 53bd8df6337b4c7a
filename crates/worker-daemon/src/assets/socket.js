// The pages' WebSocket to the worker daemon: reconnects by itself with capped, jittered
// backoff, and carries the page's ?token= and ?service= along.
"use strict";

(function () {
  const MIN_DELAY = 500;
  const MAX_DELAY = 10000;

  // connect("/ws/overlays", onMessage, onClose) -> { ack(id) }. onClose (optional) runs each
  // time the connection is lost, before the reconnect: what it delivered is void by then.
  function connect(path, onMessage, onClose) {
    const page = new URLSearchParams(location.search);
    const query = new URLSearchParams();
    for (const key of ["service", "token"]) {
      const value = page.get(key);
      if (value) query.set(key, value);
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = scheme + "//" + location.host + path + (query.toString() ? "?" + query : "");
    let socket = null;
    let delay = MIN_DELAY;

    function status(connected) {
      document.body.dataset.connected = connected ? "true" : "false";
    }

    function open() {
      socket = new WebSocket(url);
      socket.addEventListener("open", () => {
        delay = MIN_DELAY;
        status(true);
      });
      socket.addEventListener("message", (e) => {
        let message;
        try {
          message = JSON.parse(e.data);
        } catch (_) {
          return;
        }
        try {
          onMessage(message);
        } catch (err) {
          console.error("cannot handle", message, err);
        }
      });
      socket.addEventListener("close", () => {
        status(false);
        if (onClose) {
          try {
            onClose();
          } catch (err) {
            console.error("cannot handle the disconnect", err);
          }
        }
        // Jitter keeps many OBS scenes from reconnecting in lockstep after a restart.
        const wait = delay * (0.75 + Math.random() * 0.5);
        delay = Math.min(delay * 2, MAX_DELAY);
        setTimeout(open, wait);
      });
    }

    status(false);
    open();
    return {
      ack(id) {
        if (socket && socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ type: "ack", id: id }));
        }
      },
    };
  }

  // Builds an element whose content is plain text: TikTok text never becomes HTML.
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  window.Pages = { connect: connect, el: el };
})();
