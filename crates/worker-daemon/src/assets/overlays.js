// The overlay page: alerts (gifts, follows, subscribes, shares) stacked at the top, several
// at once, and a chat feed at the bottom left. Every TikTok string goes in as textContent.
"use strict";

(function () {
  const el = Pages.el;
  const MAX_VISIBLE = 3;
  const MAX_WAITING = 100;
  const SHOW_MS = { GiftEvent: 7000, SubscribeEvent: 6000, FollowEvent: 5000, ShareEvent: 5000 };
  const CHAT_ROWS = 10;
  const CHAT_FADE_MS = 30000;

  const alerts = document.getElementById("alerts");
  const chat = document.getElementById("chat");
  const waiting = [];
  // Alerts on screen by gift streak id, so a combo updates one card instead of stacking.
  const byStreak = new Map();

  function nickname(event) {
    const user = event.user || {};
    return user.nickname || user.unique_id || "Someone";
  }

  function avatar(event) {
    const data = event.data || {};
    const url = data.user && data.user.avatar_url;
    const initial = el("div", "avatar", Array.from(nickname(event))[0] || "?");
    // Only https images (TikTok's CDN). The initial shows at once and the picture takes its
    // place only once it has loaded, so a slow or unreachable CDN never leaves a blank circle.
    if (typeof url !== "string" || !url.startsWith("https://")) return initial;
    const img = new Image();
    img.className = "avatar";
    img.alt = "";
    img.referrerPolicy = "no-referrer";
    img.addEventListener("load", () => initial.replaceWith(img), { once: true });
    img.src = url;
    return initial;
  }

  function giftLine(event) {
    const data = event.data || {};
    const gift = data.gift || {};
    const count = data.repeat_count || data.streak_total_count || 1;
    const line = el("div", "what");
    line.append("sent ");
    line.append(el("span", "gift-name", gift.name || "a gift"));
    if (count > 1) line.append(el("span", "count", "×" + count));
    return line;
  }

  function card(message) {
    const event = message.event;
    const kind = {
      GiftEvent: "gift",
      FollowEvent: "follow",
      SubscribeEvent: "subscribe",
      ShareEvent: "share",
    }[event.type];
    const node = el("div", "alert " + kind);
    node.dataset.itemId = String(message.id);
    node.dataset.eventType = event.type;
    const text = el("div", "text");
    text.append(el("div", "who", nickname(event)));
    if (kind === "gift") {
      text.append(giftLine(event));
      const diamonds = (event.data || {}).total_diamonds;
      if (diamonds) text.append(el("div", "diamonds", "💎 " + diamonds));
    } else if (kind === "follow") {
      text.append(el("div", "what", "followed you"));
    } else if (kind === "subscribe") {
      text.append(el("div", "what", "subscribed"));
    } else {
      text.append(el("div", "what", "shared the LIVE"));
    }
    node.append(avatar(event), text);
    return node;
  }

  function show(message) {
    const node = card(message);
    const streak = message.event.streak && message.event.streak.id;
    if (streak) byStreak.set(streak, node);
    alerts.append(node);
    setTimeout(() => {
      node.classList.add("leaving");
      setTimeout(() => {
        node.remove();
        if (streak && byStreak.get(streak) === node) byStreak.delete(streak);
        next();
      }, 500);
    }, SHOW_MS[message.event.type] || 5000);
  }

  function next() {
    while (alerts.childElementCount < MAX_VISIBLE && waiting.length) {
      show(waiting.shift());
    }
  }

  function alert(message) {
    const streak = message.event.streak && message.event.streak.id;
    const current = streak && byStreak.get(streak);
    if (current && current.isConnected) {
      // The same combo again: refresh the count in place.
      const text = current.querySelector(".text");
      const old = text.querySelector(".what");
      old.replaceWith(giftLine(message.event));
      current.dataset.itemId = String(message.id);
      return;
    }
    if (waiting.length >= MAX_WAITING) waiting.shift();
    waiting.push(message);
    next();
  }

  function feed(message, quiet, text) {
    const row = el("li", quiet ? "quiet" : "");
    row.dataset.itemId = String(message.id);
    row.append(el("span", "name", nickname(message.event)));
    row.append(el("span", "message", text));
    chat.append(row);
    while (chat.childElementCount > CHAT_ROWS) chat.firstElementChild.remove();
    setTimeout(() => {
      row.classList.add("faded");
      setTimeout(() => row.remove(), 1000);
    }, CHAT_FADE_MS);
  }

  function handle(message) {
    const event = message.event || {};
    const data = event.data || {};
    switch (event.type) {
      case "GiftEvent":
      case "FollowEvent":
      case "SubscribeEvent":
      case "ShareEvent":
        alert(message);
        break;
      case "CommentEvent":
        feed(message, false, data.comment || "");
        break;
      case "JoinEvent":
        feed(message, true, "joined");
        break;
      case "LikeEvent":
        feed(message, true, "liked ❤ ×" + (data.like_count || 1));
        break;
      default:
        break;
    }
  }

  const socket = Pages.connect("/ws/overlays", (message) => {
    if (message.type !== "event" || !message.event) return;
    // The ack says "this page has it": the alert is on screen or next in line.
    handle(message);
    socket.ack(message.id);
  });
})();
