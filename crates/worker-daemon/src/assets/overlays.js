// The overlay page: alerts (gifts, follows, subscribes, shares) stacked at the top, several
// at once, and a chat feed at the bottom left. Every TikTok string goes in as textContent.
//
// A "delete" message (a moderator deleted comments) takes them off the chat feed, by msg_id
// (a string: JavaScript's numbers cannot hold it exactly) and by author, and keeps them from
// showing later.
//
// An item is acked when it is on screen, never before: a chat row at once, an alert when its
// card appears. Alerts waiting for a free slot are not acked yet, so they stay in flight for
// the overlays service and its max_concurrency bounds how many wait here; nothing is ever
// dropped from this page after it counted as delivered.
"use strict";

(function () {
  const el = Pages.el;
  const MAX_VISIBLE = 3;
  const SHOW_MS = { GiftEvent: 7000, SubscribeEvent: 6000, FollowEvent: 5000, ShareEvent: 5000 };
  const CHAT_ROWS = 10;
  const CHAT_FADE_MS = 30000;
  // How many shown item ids (and deleted msg_ids) are remembered, to recognise a resend of
  // something already shown (or a deleted comment arriving late).
  const REMEMBERED = 500;

  const alerts = document.getElementById("alerts");
  const chat = document.getElementById("chat");
  // Alerts waiting for a slot, oldest first: { message, ids } (ids: the queue items it shows,
  // more than one when later messages of the same gift combo joined it while it waited).
  const waiting = [];
  // Alerts on screen by gift streak id, so a combo updates one card instead of stacking.
  const byStreak = new Map();
  // Item ids already shown (and acked), oldest first.
  const shown = new Set();
  const shownOrder = [];
  // msg_ids of deleted comments, oldest first.
  const deleted = new Set();
  const deletedOrder = [];
  let socket = null;

  function status() {
    document.body.dataset.waiting = String(waiting.length);
  }

  // The item is on screen: say so, once for good.
  function done(id) {
    if (!shown.has(id)) {
      shown.add(id);
      shownOrder.push(id);
      while (shownOrder.length > REMEMBERED) shown.delete(shownOrder.shift());
    }
    socket.ack(id);
  }

  function streakOf(message) {
    return (message.event.streak && message.event.streak.id) || null;
  }

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
    }[event.type] || "other";
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
    } else if (kind === "share") {
      text.append(el("div", "what", "shared the LIVE"));
    } else {
      // A rule asked for an alert ("--action alert") on another type: say what it was.
      text.append(el("div", "what", summary(event)));
    }
    node.append(avatar(event), text);
    return node;
  }

  function show(entry) {
    const message = entry.message;
    const node = card(message);
    const streak = streakOf(message);
    if (streak) byStreak.set(streak, node);
    alerts.append(node);
    entry.ids.forEach(done);
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
    status();
  }

  function alert(message) {
    const streak = streakOf(message);
    const current = streak && byStreak.get(streak);
    if (current && current.isConnected) {
      // The same combo again: refresh the count in place; that is showing it.
      const text = current.querySelector(".text");
      const old = text.querySelector(".what");
      old.replaceWith(giftLine(message.event));
      current.dataset.itemId = String(message.id);
      done(message.id);
      return;
    }
    const queued = streak && waiting.find((w) => streakOf(w.message) === streak);
    if (queued) {
      // The combo has not reached the screen yet: its card will show the latest count, and
      // every message it stands for is acked when it appears.
      queued.message = message;
      queued.ids.push(message.id);
      return;
    }
    waiting.push({ message: message, ids: [message.id] });
    next();
  }

  // The server gave up on an item (its ack timed out, so it counts as failed): it must not
  // turn up on screen afterwards.
  function cancel(id) {
    for (let i = waiting.length - 1; i >= 0; i--) {
      const entry = waiting[i];
      entry.ids = entry.ids.filter((x) => x !== id);
      if (!entry.ids.length) waiting.splice(i, 1);
    }
    status();
  }

  function feed(message, quiet, text) {
    const row = el("li", quiet ? "quiet" : "");
    row.dataset.itemId = String(message.id);
    if (typeof message.msg_id === "string") row.dataset.msgId = message.msg_id;
    const user = (message.event && message.event.user) || {};
    if (typeof user.id === "string") row.dataset.userId = user.id;
    row.append(el("span", "name", nickname(message.event)));
    row.append(el("span", "message", text));
    chat.append(row);
    while (chat.childElementCount > CHAT_ROWS) chat.firstElementChild.remove();
    setTimeout(() => {
      row.classList.add("faded");
      setTimeout(() => row.remove(), 1000);
    }, CHAT_FADE_MS);
  }

  // One line of text for any event: the comment, the gift, or what happened.
  function summary(event) {
    const data = event.data || {};
    if (event.type === "CommentEvent") return data.comment || "";
    if (event.type === "GiftEvent") {
      const gift = (data.gift && data.gift.name) || "a gift";
      const count = data.streak_total_count || data.repeat_count || 1;
      return "sent " + gift + (count > 1 ? " ×" + count : "");
    }
    if (event.type === "LikeEvent") return "liked ❤ ×" + (data.like_count || 1);
    return String(event.type || "").replace(/Event$/, "").toLowerCase();
  }

  function handle(message) {
    const event = message.event || {};
    const data = event.data || {};
    // The rule's action ("--action") overrides the mapping by type: alert, chat or none.
    const action = message.rule && message.rule.action;
    if (action === "none") {
      done(message.id);
      return;
    }
    if (action === "alert") {
      alert(message);
      return;
    }
    if (action === "chat") {
      feed(message, false, summary(event));
      done(message.id);
      return;
    }
    switch (event.type) {
      case "GiftEvent":
      case "FollowEvent":
      case "SubscribeEvent":
      case "ShareEvent":
        alert(message);
        return;
      case "CommentEvent":
        if (!deleted.has(message.msg_id)) feed(message, false, data.comment || "");
        break;
      case "QuestionEvent":
        feed(message, false, "❓ " + (data.question || ""));
        break;
      case "JoinEvent":
        feed(message, true, "joined");
        break;
      case "LikeEvent":
        feed(message, true, "liked ❤ ×" + (data.like_count || 1));
        break;
      default:
        // Nothing to show for it: acking it says this page is done with it.
        break;
    }
    done(message.id);
  }

  // Comments a moderator deleted leave the feed (and are not shown if they come later).
  function remove(message) {
    const msgIds = Array.isArray(message.msg_ids) ? message.msg_ids.map(String) : [];
    const userIds = new Set(Array.isArray(message.user_ids) ? message.user_ids.map(String) : []);
    for (const id of msgIds) {
      if (!deleted.has(id)) {
        deleted.add(id);
        deletedOrder.push(id);
        while (deletedOrder.length > REMEMBERED) deleted.delete(deletedOrder.shift());
      }
    }
    for (const row of Array.from(chat.children)) {
      if (deleted.has(row.dataset.msgId) || userIds.has(row.dataset.userId)) row.remove();
    }
    socket.ack(message.id);
  }

  socket = Pages.connect(
    "/ws/overlays",
    (message) => {
      if (typeof message.id !== "number") return;
      if (message.type === "cancel") {
        cancel(message.id);
        return;
      }
      if (message.type === "delete") {
        remove(message);
        return;
      }
      if (message.type !== "event" || !message.event) return;
      if (shown.has(message.id)) {
        // Sent again after a reconnect because the first ack was lost: ack, do not repeat it.
        socket.ack(message.id);
        return;
      }
      if (waiting.some((w) => w.ids.includes(message.id))) return;
      handle(message);
    },
    () => {
      // The server forgot this connection's deliveries: it sends them again to the next
      // connection (no_page=wait) or failed them. Either way they must not show from here.
      waiting.length = 0;
      status();
    }
  );
  status();
})();
