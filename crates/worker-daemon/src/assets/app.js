// The control room: one page, one view per section (#dashboard, #services, …), all data from
// the JSON API under /api/ and the dashboard's snapshots from /ws/dashboard.
//
// Everything that comes from TikTok or from users is put in the page as text (the `h` helper
// makes text nodes of strings; nothing is ever assigned to innerHTML).
"use strict";

// ── Small helpers ────────────────────────────────────────────────────────────────────────

/** Makes an element: h("td", {class: "num"}, "12", otherNode). Strings become text. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const fmt = new Intl.NumberFormat("en-US");
function num(n) { return n === null || n === undefined ? "–" : fmt.format(n); }
function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v >= 1000) return (v / 1000).toFixed(1) + " s";
  return (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms";
}
function duration(secs) {
  const hh = Math.floor(secs / 3600), mm = Math.floor(secs / 60) % 60, ss = secs % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (hh) return hh + "h " + two(mm) + "m";
  if (mm) return mm + "m " + two(ss) + "s";
  return ss + "s";
}
function when(t) { return t ? t.replace("T", " ").slice(0, 19) + " UTC" : "–"; }
/** A time of day, the full UTC time on hover. */
function clock(t) { return t ? h("span", { title: when(t) }, t.slice(11, 19)) : "–"; }
function lag(sv) {
  if (sv.lag_p50_ms === null) return "–";
  return ms(sv.lag_p50_ms) + " / " + ms(sv.lag_p99_ms);
}
/** A table that scrolls sideways on a narrow window instead of leaving the page. */
function scroller(table) { return h("div", { class: "table-wrap" }, table); }

function toast(message, error) {
  const t = h("div", { class: "toast" + (error ? " error" : ""), role: error ? "alert" : "status" }, message);
  const box = document.getElementById("toasts");
  box.append(t);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => t.remove(), error ? 8000 : 4000);
}

// ── The API ──────────────────────────────────────────────────────────────────────────────

let csrfToken = null;
async function csrf() {
  if (!csrfToken) csrfToken = (await (await fetch("/api/csrf")).json()).token;
  return csrfToken;
}

/** Calls the API; resolves with the JSON body, or throws Error(the server's sentence). */
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (method !== "GET") {
    opts.headers["X-CSRF-Token"] = await csrf();
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body || {});
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.status + " " + res.statusText);
  return data;
}

/** Runs an action, toasting its error; resolves with its result or undefined. */
async function attempt(fn, done) {
  try {
    const r = await fn();
    if (done) toast(done);
    return r;
  } catch (e) {
    toast(e.message, true);
  }
}

const EVENT_TYPES = ["GiftEvent", "CommentEvent", "LikeEvent", "FollowEvent", "ShareEvent", "JoinEvent",
  "SubscribeEvent", "ViewerCountEvent", "LiveEndEvent", "CommentDeletedEvent", "EnvelopeEvent",
  "PollEvent", "QuestionEvent", "RoomPinEvent", "BattleEvent", "BattleScoreEvent", "GoalEvent"];
const CLASSES = ["dummy", "dinochrome", "overlays", "exec", "webhook", "slow", "verbose"];
const STATUSES = ["pending", "processing", "completed", "failed", "discarded"];
const REASONS = ["overflow", "cooldown", "deleted", "cleared", "skipped"];
const AUDIENCES = ["follower", "friend", "subscriber", "moderator", "top-gifter"];

// ── Views ────────────────────────────────────────────────────────────────────────────────

const main = () => document.getElementById("main");
let leaveView = null;

function show(...nodes) {
  const m = main();
  m.replaceChildren(...nodes);
}

const views = {
  dashboard: viewDashboard,
  services: viewServices,
  queue: viewQueue,
  test: viewTest,
  sessions: viewSessions,
  events: viewEvents,
  settings: viewSettings,
};

function route() {
  const [name, arg] = (location.hash.slice(1) || "dashboard").split("/");
  const view = views[name] ? name : "dashboard";
  for (const a of document.querySelectorAll(".sidebar > a")) {
    a.classList.toggle("active", a.dataset.view === view);
  }
  if (leaveView) { leaveView(); leaveView = null; }
  views[view](arg ? decodeURIComponent(arg) : undefined);
}

// ── Dashboard ────────────────────────────────────────────────────────────────────────────

let lastSnapshot = null;
const snapshotListeners = new Set();
let socket = null;

function connectDashboard() {
  const state = document.getElementById("link-state");
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(proto + "//" + location.host + "/ws/dashboard");
  socket.addEventListener("open", () => { state.textContent = "live"; state.className = "link-state live"; });
  socket.addEventListener("message", (m) => {
    lastSnapshot = JSON.parse(m.data);
    for (const f of snapshotListeners) f(lastSnapshot);
  });
  socket.addEventListener("close", () => {
    state.textContent = "reconnecting…"; state.className = "link-state down";
    setTimeout(connectDashboard, 2000);
  });
}

function viewDashboard() {
  const sessionBox = h("div", { id: "dash-session" });
  const servicesBox = h("div", { class: "panel", id: "dash-services" });
  show(
    h("div", { class: "header-row" },
      h("div", {}, h("h1", {}, "Dashboard"), h("p", { class: "subtitle" }, "Your LIVE and every service, updated every second.")),
      h("div", { class: "actions" }, h("a", { class: "button", href: "#test" }, "Send a test event"))),
    sessionBox, servicesBox);
  const render = (d) => {
    sessionBox.replaceChildren(renderSession(d));
    servicesBox.replaceChildren(h("h2", {}, "Services"), renderServiceTable(d.services));
  };
  if (lastSnapshot) render(lastSnapshot);
  else servicesBox.append(h("div", { class: "empty" }, "Waiting for the first update…"));
  snapshotListeners.add(render);
  leaveView = () => snapshotListeners.delete(render);
}

function renderSession(d) {
  const s = d.session;
  if (!s) {
    return h("div", { class: "panel" }, h("h2", {}, "No session yet"),
      h("p", { class: "hint" }, "Start capture-daemon for your LIVE, or send a test event to try your rules."));
  }
  const status = s.is_test ? h("span", { class: "badge test" }, "test")
    : h("span", { class: "badge " + (s.status === "active" ? "ok" : "") }, s.status === "active" ? "live" : s.status);
  return h("div", {},
    h("div", { class: "panel" },
      h("div", { class: "actions" }, h("h2", {}, "@" + s.streamer), status,
        h("span", { class: "hint" }, "session " + s.id + " · started " + when(s.started_at)))),
    h("div", { class: "grid tiles", id: "dash-tiles" },
      tile("Duration", duration(s.duration_secs), "duration"),
      tile("Events / min", num(s.events_per_min), "events-per-min"),
      tile("Events", num(s.events), "events"),
      tile("Viewers", num(s.viewers), "viewers"),
      tile("Diamonds", num(s.diamonds), "diamonds")),
    h("div", { class: "spacer-16" }));
}

function tile(label, value, id) {
  return h("div", { class: "tile", "data-tile": id }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}

function renderServiceTable(services) {
  if (!services.length) return h("div", { class: "empty" }, "No services yet. Add one under Services & rules.");
  const head = h("tr", {}, ["Service", "State", "Pending", "Running", "Done", "Failed", "Dropped",
    "Items/s", "Lag p50 / p99", "Pages", ""].map((t, i) => h("th", { class: i >= 2 && i <= 8 ? "num" : "" }, t)));
  const rows = services.map((sv) => h("tr", { class: "svc-row", "data-service": sv.slug },
    h("td", {}, sv.name, h("div", { class: "hint" }, sv.slug)),
    h("td", {}, stateBadge(sv), h("div", { class: "hint mono", title: sv.owner || "" }, sv.owner ? "on " + sv.owner.split(":")[0] : "")),
    h("td", { class: "num", "data-col": "pending" }, num(sv.pending)),
    h("td", { class: "num" }, num(sv.processing)),
    h("td", { class: "num", "data-col": "completed" }, num(sv.completed)),
    h("td", { class: "num", "data-col": "failed" }, num(sv.failed)),
    h("td", { class: "num" }, num(sv.dropped)),
    h("td", { class: "num" }, num(sv.items_per_sec)),
    h("td", { class: "num" }, lag(sv)),
    h("td", {}, sv.pages === null ? "–" : h("span", { class: "badge " + (sv.pages > 0 ? "ok" : "warn") }, sv.pages + " open")),
    h("td", {}, sv.is_active ? pauseButton(sv) : null)));
  return scroller(h("table", {}, h("thead", {}, head), h("tbody", {}, rows)));
}

function stateBadge(sv) {
  if (!sv.is_active) return h("span", { class: "badge" }, "disabled");
  if (sv.paused) return h("span", { class: "badge warn" }, "paused");
  return h("span", { class: "badge ok" }, sv.owner ? "running" : "active");
}

function pauseButton(sv, after) {
  const verb = sv.paused ? "resume" : "pause";
  return h("button", {
    class: "small", "data-action": verb, "data-slug": sv.slug,
    onclick: async (e) => {
      e.target.disabled = true;
      await attempt(() => api("POST", "/api/services/" + encodeURIComponent(sv.slug) + "/" + verb),
        sv.name + (sv.paused ? " resumed" : " paused"));
      if (after) after();
    },
  }, sv.paused ? "Resume" : "Pause");
}

// ── Services and rules ───────────────────────────────────────────────────────────────────

async function viewServices(open) {
  const list = h("div", {}, h("div", { class: "empty" }, "Loading…"));
  const addBox = h("div", { class: "panel", hidden: true }, serviceForm());
  show(
    h("div", { class: "header-row" },
      h("div", {}, h("h1", {}, "Services & rules"),
        h("p", { class: "subtitle" }, "What each gift, comment or follow does on stream. Running workers pick changes up within seconds.")),
      h("button", { class: "primary", id: "new-service", onclick: () => { addBox.hidden = !addBox.hidden; } }, "+ New service")),
    addBox, list);
  const services = await attempt(() => api("GET", "/api/services"));
  if (!services) return;
  list.replaceChildren(...(services.length ? services.map((sv) => serviceCard(sv, sv.slug === open))
    : [h("div", { class: "panel empty" }, "No services yet.")]));
}

function field(label, input, opts) {
  return h("div", { class: "field" + (opts && opts.wide ? " wide" : "") + (opts && opts.check ? " check" : "") },
    opts && opts.check ? [input, h("label", { for: input.id }, label)] : [h("label", { for: input.id }, label), input]);
}

function select(id, options, value, blank) {
  return h("select", { id, name: id },
    blank !== undefined ? h("option", { value: "" }, blank) : null,
    options.map((o) => h("option", { value: o, selected: o === value }, o)));
}

/** Lines of KEY=VALUE as a settings object (values that parse as JSON are JSON). */
function parseSettings(text) {
  const out = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf("=");
    if (i < 1) throw new Error("invalid setting '" + line + "': expected key=value");
    const raw = line.slice(i + 1).trim();
    let v = raw;
    try { v = JSON.parse(raw); } catch (_) { /* plain text */ }
    out[line.slice(0, i).trim()] = raw === "" ? null : v;
  }
  return out;
}
function handles(text) { return text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean); }

function serviceForm(existing) {
  const id = (n) => (existing ? "edit-" + existing.slug + "-" : "new-") + n;
  const name = h("input", { id: id("name"), value: existing ? existing.name : "", required: true, placeholder: "My overlay" });
  const slug = h("input", { id: id("slug"), value: existing ? existing.slug : "", placeholder: "my_overlay", disabled: !!existing });
  const cls = select(id("class"), CLASSES, existing ? existing.service_class : "dummy");
  const max = h("input", { id: id("max"), type: "number", min: 1, value: existing ? existing.max_queue_size : 100 });
  const streamers = h("input", { id: id("streamers"), value: existing ? existing.streamers.join(" ") : "", placeholder: "every streamer" });
  const desc = h("input", { id: id("description"), value: existing ? existing.description : "" });
  const settingsText = existing ? Object.entries(JSON.parse(existing.settings || "{}"))
    .map(([k, v]) => k + "=" + (typeof v === "string" ? v : JSON.stringify(v))).join("\n") : "";
  const settings = h("textarea", { id: id("settings"), placeholder: "command=python3 my_service.py\ntimeout_ms=5000" }, settingsText);
  const active = h("input", { id: id("active"), type: "checkbox", checked: existing ? existing.is_active : true });
  const form = h("form", {
    class: "form",
    onsubmit: async (e) => {
      e.preventDefault();
      let body;
      try {
        body = {
          name: name.value, service_class: cls.value, max_queue_size: Number(max.value),
          description: desc.value, settings: parseSettings(settings.value), streamers: handles(streamers.value),
          is_active: active.checked,
        };
      } catch (err) { toast(err.message, true); return; }
      if (existing) {
        // Keys removed from the text are removed from the service.
        for (const k of Object.keys(JSON.parse(existing.settings || "{}"))) if (!(k in body.settings)) body.settings[k] = null;
        if (await attempt(() => api("PATCH", "/api/services/" + encodeURIComponent(existing.slug), body), "Saved " + body.name)) viewServices(existing.slug);
      } else {
        body.slug = slug.value;
        if (await attempt(() => api("POST", "/api/services", body), "Created " + body.name)) viewServices(body.slug);
      }
    },
  },
  h("h2", { class: "field wide" }, existing ? "Edit service" : "New service"),
  field("Name", name), field("Slug", slug), field("Class", cls), field("Max queue size", max),
  field("Streamers (@handles; empty: all)", streamers), field("Description", desc),
  field("Settings (KEY=VALUE per line)", settings, { wide: true }),
  field("Active", active, { check: true }),
  h("div", { class: "form-foot" }, h("button", { class: "primary", type: "submit", id: id("save") }, existing ? "Save" : "Create service")));
  return form;
}

function serviceCard(sv, open) {
  const body = h("div", { class: "service-body", hidden: !open });
  const card = h("div", { class: "service-card", "data-service": sv.slug },
    h("div", { class: "service-head" },
      h("div", {}, h("div", { class: "title" }, sv.name), h("div", { class: "slug" }, sv.slug + " · " + sv.service_class)),
      stateBadge(sv),
      h("span", { class: "hint" }, sv.streamers.length ? sv.streamers.map((x) => "@" + x).join(" ") : "all streamers"),
      h("div", { class: "spacer" }),
      sv.is_active ? pauseButton(sv, () => viewServices(sv.slug)) : null,
      h("button", { class: "small", "data-action": "open", onclick: () => { body.hidden = !body.hidden; if (!body.hidden) fillService(body, sv); } }, "Rules & settings")),
    body);
  if (open) fillService(body, sv);
  return card;
}

async function fillService(body, sv) {
  body.replaceChildren(h("div", { class: "empty" }, "Loading…"));
  const rules = await attempt(() => api("GET", "/api/services/" + encodeURIComponent(sv.slug) + "/rules"));
  if (!rules) return;
  const ruleBox = h("div", { class: "panel", hidden: true }, ruleForm(sv));
  body.replaceChildren(
    h("div", { class: "actions" }, h("h2", {}, "Rules"), h("div", { class: "spacer" }),
      h("button", { class: "small primary", "data-action": "new-rule", onclick: () => { ruleBox.hidden = !ruleBox.hidden; } }, "+ Add rule")),
    ruleBox,
    rulesTable(sv, rules),
    h("div", { class: "panel" }, serviceForm(sv)),
    h("div", { class: "actions" }, h("button", {
      class: "danger", onclick: async () => {
        if (!confirm("Remove " + sv.name + " with its rules and queue?")) return;
        if (await attempt(() => api("DELETE", "/api/services/" + encodeURIComponent(sv.slug)), "Removed " + sv.name)) viewServices();
      },
    }, "Remove service")));
}

function describeConditions(c) {
  const parts = [];
  if (c.gifts && c.gifts.length) parts.push("gift " + c.gifts.join(" or "));
  if (c.min_diamonds) parts.push("≥ " + c.min_diamonds + " diamonds");
  if (c.min_count) parts.push("combo ≥ " + c.min_count);
  if (c.comment_prefix) parts.push("starts with “" + c.comment_prefix + "”");
  if (c.comment_regex) parts.push("matches /" + c.comment_regex + "/");
  if (c.from && c.from.length) parts.push("from " + c.from.join(" or "));
  if (c.min_gifter_level) parts.push("gifter level ≥ " + c.min_gifter_level);
  if (c.users && c.users.length) parts.push("by " + c.users.map((u) => "@" + u).join(" "));
  if (c.min_likes) parts.push("≥ " + c.min_likes + " likes");
  return parts.length ? parts.join(", ") : "any";
}

function rulesTable(sv, rules) {
  if (!rules.length) return h("div", { class: "empty" }, "No rules: this service receives nothing yet.");
  const base = "/api/services/" + encodeURIComponent(sv.slug) + "/rules/";
  return h("table", { class: "rules" },
    h("thead", {}, h("tr", {}, ["Rule", "Event", "When", "Priority", "Mode", "Cooldown", "Combo", "Action", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, rules.map((r) => h("tr", { "data-rule": r.name },
      h("td", {}, r.name, r.is_enabled ? null : h("span", { class: "badge" }, " off")),
      h("td", {}, r.event_type),
      h("td", { class: "wrap" }, describeConditions(r.conditions || {})),
      h("td", { class: "num" }, r.priority),
      h("td", {}, (r.is_async ? "async" : "sync") + (r.is_discardable ? "" : " · keep")),
      h("td", {}, [r.cooldown_ms ? r.cooldown_ms / 1000 + "s" : null, r.user_cooldown_ms ? r.user_cooldown_ms / 1000 + "s per viewer" : null].filter(Boolean).join(", ") || "–"),
      h("td", {}, r.event_type === "GiftEvent" ? r.streak_policy : "–"),
      h("td", {}, r.action || "–"),
      h("td", { class: "row-actions" },
        h("button", {
          class: "small", "data-action": "edit-rule", onclick: (e) => {
            const row = e.target.closest("tr");
            const open = row.nextElementSibling && row.nextElementSibling.classList.contains("rule-edit");
            if (open) { row.nextElementSibling.remove(); return; }
            row.after(h("tr", { class: "rule-edit" }, h("td", { colspan: 9 }, h("div", { class: "panel" }, ruleForm(sv, r)))));
          },
        }, "Edit"),
        h("button", {
          class: "small", onclick: async () => {
            if (await attempt(() => api("PATCH", base + encodeURIComponent(r.name), { is_enabled: !r.is_enabled }), (r.is_enabled ? "Disabled " : "Enabled ") + r.name)) viewServices(sv.slug);
          },
        }, r.is_enabled ? "Disable" : "Enable"),
        h("button", {
          class: "small danger", onclick: async () => {
            if (!confirm("Remove the rule " + r.name + "?")) return;
            if (await attempt(() => api("DELETE", base + encodeURIComponent(r.name)), "Removed " + r.name)) viewServices(sv.slug);
          },
        }, "Remove"))))));
}

/** The rule form: a new rule, or (given `existing`) the changes to one, every field of
 *  `ctl rule add|set`. */
function ruleForm(sv, existing) {
  const r = existing || {};
  const c = r.conditions || {};
  const prefix = "rule-" + sv.slug + (existing ? "-" + existing.id : "") + "-";
  const id = (n) => prefix + n;
  const inp = (n, attrs) => h("input", Object.assign({ id: id(n), name: n }, attrs || {}));
  const secs = (ms) => (ms ? (ms % 1000 ? ms + "ms" : ms / 1000 + "s") : "");
  const f = {
    name: inp("name", { placeholder: "big_gifts", required: true, value: r.name || "", disabled: !!existing }),
    type: select(id("type"), EVENT_TYPES, r.event_type || "GiftEvent"),
    priority: inp("priority", { type: "number", min: 1, max: 10, value: r.priority || 5 }),
    mode: select(id("mode"), ["sync", "async"], r.is_async ? "async" : "sync"),
    keep: inp("keep", { type: "checkbox", checked: existing ? !r.is_discardable : false }),
    gifts: inp("gifts", { placeholder: "Rose, Galaxy", value: (c.gifts || []).join(", ") }),
    minDiamonds: inp("min_diamonds", { type: "number", min: 0, value: c.min_diamonds ?? "" }),
    minCount: inp("min_count", { type: "number", min: 0, value: c.min_count ?? "" }),
    prefix: inp("comment_prefix", { placeholder: "!jump", value: c.comment_prefix || "" }),
    regex: inp("comment_regex", { value: c.comment_regex || "" }),
    from: select(id("from"), AUDIENCES, (c.from || [])[0] || "", "anyone"),
    level: inp("min_gifter_level", { type: "number", min: 0, value: c.min_gifter_level ?? "" }),
    users: inp("users", { placeholder: "@alice @bob", value: (c.users || []).map((u) => "@" + u).join(" ") }),
    likes: inp("min_likes", { type: "number", min: 0, value: c.min_likes ?? "" }),
    cooldown: inp("cooldown", { placeholder: "30s", value: secs(r.cooldown_ms) }),
    userCooldown: inp("user_cooldown", { placeholder: "5m", value: secs(r.user_cooldown_ms) }),
    streak: select(id("streak"), ["each", "end"], r.streak_policy || "each"),
    action: inp("action", { placeholder: "alert, jump, none…", value: r.action || "" }),
  };
  const numOrNull = (el) => (el.value === "" ? undefined : Number(el.value));
  // A field left empty: absent in a new rule, removed (null) from an existing one.
  const textOrNone = (el) => el.value || (existing ? null : undefined);
  return h("form", {
    class: "form",
    onsubmit: async (e) => {
      e.preventDefault();
      const conditions = {
        gifts: f.gifts.value ? f.gifts.value.split(",").map((x) => x.trim()).filter(Boolean) : undefined,
        min_diamonds: numOrNull(f.minDiamonds), min_count: numOrNull(f.minCount),
        comment_prefix: f.prefix.value || undefined, comment_regex: f.regex.value || undefined,
        from: f.from.value ? [f.from.value] : undefined, min_gifter_level: numOrNull(f.level),
        users: f.users.value ? handles(f.users.value).map((u) => u.replace(/^@/, "")) : undefined,
        min_likes: numOrNull(f.likes),
      };
      const body = {
        event_type: f.type.value, priority: Number(f.priority.value),
        is_async: f.mode.value === "async", is_discardable: !f.keep.checked, conditions,
        cooldown: textOrNone(f.cooldown), user_cooldown: textOrNone(f.userCooldown),
        streak_policy: f.type.value === "GiftEvent" ? f.streak.value : undefined,
        action: textOrNone(f.action),
      };
      const base = "/api/services/" + encodeURIComponent(sv.slug) + "/rules";
      const done = existing
        ? await attempt(() => api("PATCH", base + "/" + encodeURIComponent(existing.name), body), "Saved rule " + existing.name)
        : await attempt(() => api("POST", base, Object.assign({ name: f.name.value }, body)), "Added rule " + f.name.value);
      if (done) viewServices(sv.slug);
    },
  },
  h("h2", { class: "field wide" }, existing ? "Edit rule " + existing.name : "New rule for " + sv.name),
  field("Rule name", f.name), field("Event type", f.type), field("Priority (1–10)", f.priority), field("Mode", f.mode),
  field("Gift names or ids", f.gifts), field("Min diamonds", f.minDiamonds), field("Min combo count", f.minCount),
  field("Comment starts with", f.prefix), field("Comment matches (regex)", f.regex), field("From", f.from),
  field("Min gifter level", f.level), field("Only these viewers", f.users), field("Min likes", f.likes),
  field("Cooldown", f.cooldown), field("Cooldown per viewer", f.userCooldown), field("Gift combos", f.streak),
  field("Action", f.action), field("Never drop (keep when the queue is full)", f.keep, { check: true }),
  h("div", { class: "form-foot" }, h("button", { class: "primary", type: "submit", id: id("save") }, existing ? "Save rule" : "Add rule")));
}

// ── Queues ───────────────────────────────────────────────────────────────────────────────

async function viewQueue(slug) {
  const services = await attempt(() => api("GET", "/api/services"));
  if (!services) return;
  if (!services.length) { show(h("h1", {}, "Queues"), h("div", { class: "panel empty" }, "No services yet.")); return; }
  const svc = select("queue-service", services.map((x) => x.slug), slug || services[0].slug);
  const status = select("queue-status", STATUSES, "", "any status");
  const reason = select("queue-reason", REASONS, "", "any reason");
  const table = h("div", { class: "panel" });
  const load = async () => {
    const q = new URLSearchParams({ limit: 200 });
    if (status.value) q.set("status", status.value);
    if (reason.value) q.set("reason", reason.value);
    const items = await attempt(() => api("GET", "/api/queue/" + encodeURIComponent(svc.value) + "?" + q));
    if (items) table.replaceChildren(queueTable(svc.value, items, load));
  };
  const post = (what, body, done) => async () => {
    if (await attempt(() => api("POST", "/api/queue/" + encodeURIComponent(svc.value) + "/" + what, body), done)) load();
  };
  for (const el of [svc, status, reason]) el.addEventListener("change", load);
  show(
    h("div", { class: "header-row" },
      h("div", {}, h("h1", {}, "Queues"), h("p", { class: "subtitle" }, "Items in claim order: highest priority first, then oldest.")),
      h("div", { class: "actions" },
        h("button", { id: "retry-all", onclick: post("retry", {}, "Failed items back in the queue") }, "Retry failed"),
        h("button", { class: "danger", id: "clear-queue", onclick: async () => { if (confirm("Discard every pending item of " + svc.value + "?")) await post("clear", {}, "Queue cleared")(); } }, "Clear pending"))),
    h("div", { class: "panel" }, h("form", { class: "form", onsubmit: (e) => { e.preventDefault(); load(); } },
      field("Service", svc), field("Status", status), field("Reason", reason),
      h("div", { class: "field" }, h("button", { type: "submit" }, "Refresh")))),
    table);
  await load();
  const timer = setInterval(load, 3000);
  leaveView = () => clearInterval(timer);
}

function queueTable(slug, items, reload) {
  if (!items.length) return h("div", { class: "empty" }, "Nothing here.");
  const base = "/api/queue/" + encodeURIComponent(slug) + "/";
  return scroller(h("table", {},
    h("thead", {}, h("tr", {}, ["#", "Status", "Reason", "Priority", "Event", "Viewer", "Rule", "Tries", "Queued", "Error", ""].map((t) => h("th", { class: t === "Tries" ? "num" : "" }, t)))),
    h("tbody", {}, items.map((it) => h("tr", { "data-item": it.id },
      h("td", { class: "mono" }, it.id),
      h("td", {}, h("span", { class: "badge " + ({ completed: "ok", failed: "bad", processing: "warn", pending: "test" }[it.status] || "") }, it.status)),
      h("td", {}, it.reason || "–"),
      h("td", {}, it.priority + " · " + (it.is_async ? "async" : "sync")),
      h("td", {}, it.event_type),
      h("td", {}, it.user_unique_id ? "@" + it.user_unique_id : "–"),
      h("td", {}, it.rule || "–"),
      h("td", { class: "num" }, it.attempts),
      h("td", { class: "mono" }, clock(it.created_at)),
      h("td", { class: "wrap" }, it.last_error || ""),
      h("td", {},
        it.status === "failed" ? h("button", { class: "small", "data-action": "retry", onclick: async () => { if (await attempt(() => api("POST", base + "retry", { id: it.id }), "Item " + it.id + " back in the queue")) reload(); } }, "Retry") : null,
        it.status === "processing" ? h("button", { class: "small danger", "data-action": "skip", onclick: async () => { if (await attempt(() => api("POST", base + "skip", { id: it.id }), "Skipped item " + it.id)) reload(); } }, "Skip") : null))))));
}

// ── Test events ──────────────────────────────────────────────────────────────────────────

function viewTest() {
  const type = select("test-type", EVENT_TYPES.slice(0, 8), "GiftEvent");
  const user = h("input", { id: "test-user", value: "test_viewer" });
  const gift = h("input", { id: "test-gift", value: "Rose" });
  const count = h("input", { id: "test-count", type: "number", min: 1, value: 1 });
  const diamonds = h("input", { id: "test-diamonds", type: "number", min: 0, placeholder: "the gift's price" });
  const comment = h("input", { id: "test-comment", placeholder: "hello!" });
  const streamer = h("input", { id: "test-streamer", placeholder: "your tiktok_user" });
  const result = h("div", { id: "test-result" });
  show(
    h("h1", {}, "Test events"),
    h("p", { class: "subtitle" }, "Made-up events go through your real rules, cooldowns and queues, into a test session — check a rule before going live."),
    h("div", { class: "panel" }, h("form", {
      class: "form",
      onsubmit: async (e) => {
        e.preventDefault();
        const body = {
          event_type: type.value, user: user.value, gift: gift.value || undefined, count: Number(count.value || 1),
          diamonds: diamonds.value === "" ? undefined : Number(diamonds.value),
          comment: comment.value || undefined, streamer: streamer.value || undefined,
        };
        const sent = await attempt(() => api("POST", "/api/test-events", body));
        if (!sent) return;
        const took = Object.values(sent.dispatch.services).map((x) => x.slug + (x.cooldown ? " (cooling down)" : ""));
        result.replaceChildren(h("div", { class: "result" },
          "Sent " + body.event_type + " as event " + sent.event_id + " in test session " + sent.session_id + ": ",
          took.length ? "queued for " + took.join(", ") + "." : "no rule took it."));
        toast("Test " + body.event_type + " sent");
      },
    },
    field("Event type", type), field("Viewer", user), field("Gift", gift), field("Count", count),
    field("Diamonds per gift", diamonds), field("Comment", comment), field("Streamer", streamer),
    h("div", { class: "form-foot" }, h("button", { class: "primary", type: "submit", id: "send-test" }, "Send test event"))), result));
}

// ── Sessions and reports ─────────────────────────────────────────────────────────────────

async function viewSessions(id) {
  if (id) return viewReport(id);
  show(h("h1", {}, "Sessions"), h("p", { class: "subtitle" }, "Every LIVE captured, and the test sessions. Click one for its report."), h("div", { class: "panel", id: "sessions" }, "Loading…"));
  const list = await attempt(() => api("GET", "/api/sessions?limit=100"));
  if (!list) return;
  const box = document.getElementById("sessions");
  if (!box) return;
  box.replaceChildren(list.length ? h("table", {},
    h("thead", {}, h("tr", {}, ["#", "Streamer", "Status", "Events", "Started", "Ended", ""].map((t) => h("th", { class: t === "Events" ? "num" : "" }, t)))),
    h("tbody", {}, list.map((x) => h("tr", { class: "clickable", "data-session": x.id, onclick: () => { location.hash = "sessions/" + x.id; } },
      h("td", { class: "mono" }, x.id), h("td", {}, "@" + x.streamer_unique_id),
      h("td", {}, h("span", { class: "badge " + (x.is_test ? "test" : x.status === "active" ? "ok" : "") }, x.is_test ? "test" : x.status)),
      h("td", { class: "num" }, num(x.total_events)), h("td", { class: "mono" }, when(x.started_at)), h("td", { class: "mono" }, when(x.ended_at)),
      h("td", {}, h("a", { href: "#sessions/" + x.id }, "Report →"))))))
    : h("div", { class: "empty" }, "No sessions yet."));
}

async function viewReport(id) {
  show(h("div", { class: "empty" }, "Loading the report…"));
  const r = await attempt(() => api("GET", "/api/sessions/" + encodeURIComponent(id) + "/report"));
  if (!r) return;
  const s = r.session;
  const byType = Object.entries(r.events_by_type).sort((a, b) => b[1] - a[1]);
  const maxType = Math.max(1, ...byType.map((x) => x[1]));
  show(
    h("a", { class: "back", href: "#sessions" }, "← Sessions"),
    h("div", { class: "header-row" }, h("div", {},
      h("h1", {}, "@" + s.streamer_unique_id + (s.name ? " — " + s.name : "")),
      h("p", { class: "subtitle" }, "Session " + s.id + " · " + when(s.started_at) + (s.is_test ? " · test session" : "")))),
    h("div", { class: "grid tiles", id: "report-tiles" },
      tile("Duration", duration(r.duration_secs), "duration"), tile("Events", num(s.total_events), "events"),
      tile("Gifts", num(r.gifts.count), "gifts"), tile("Diamonds", num(r.gifts.diamonds), "diamonds"),
      tile("Est. value", "$" + r.gifts.usd.toFixed(2), "usd"), tile("New followers", num(r.new_followers.count), "followers"),
      tile("Peak viewers", num(r.viewers.peak), "peak"), tile("Avg viewers", num(r.viewers.average), "avg")),
    h("div", { class: "grid two-col" },
      h("div", { class: "panel" }, h("h3", {}, "Events per minute"), chart(r.per_minute, "events", "bar")),
      h("div", { class: "panel" }, h("h3", {}, "Diamonds per minute"), chart(r.per_minute, "diamonds", "bar")),
      h("div", { class: "panel" }, h("h3", {}, "Viewers"), chart(r.per_minute, "viewers", "line")),
      h("div", { class: "panel bars" }, h("h3", {}, "Events by type"),
        byType.length ? byType.map(([t, n]) => h("div", { class: "bar-row" }, h("span", {}, t),
          h("div", { class: "bar-track" }, barFill(n / maxType)), h("span", { class: "bar-num" }, num(n)))) : h("div", { class: "empty" }, "No events."))),
    h("div", { class: "grid two-col" },
      h("div", { class: "panel" }, h("h3", {}, "Top gifters"), people(r.top_gifters, ["diamonds", "gifts"])),
      h("div", { class: "panel" }, h("h3", {}, "Top commenters"), people(r.top_commenters, ["comments"]))),
    h("div", { class: "panel" }, h("h3", {}, "New followers"),
      r.new_followers.first.length ? h("p", {}, r.new_followers.first.map((u) => "@" + u).join("  ")) : h("div", { class: "empty" }, "None.")),
    h("div", { class: "actions" },
      h("a", { class: "button", href: "#events/" + s.id }, "Browse this session's events"),
      h("a", { class: "button", href: "/api/events?format=csv&limit=10000&session=" + s.id, download: "session-" + s.id + ".csv" }, "Export CSV")));
}

function barFill(fraction) {
  const el = h("div", { class: "bar-fill" });
  el.style.width = Math.max(2, Math.round(fraction * 100)) + "%";
  return el;
}

function people(list, cols) {
  if (!list.length) return h("div", { class: "empty" }, "Nobody yet.");
  return h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Viewer"), cols.map((c) => h("th", { class: "num" }, c)))),
    h("tbody", {}, list.map((p) => h("tr", {}, h("td", {}, p.nickname || p.unique_id, h("div", { class: "hint" }, "@" + p.unique_id)),
      cols.map((c) => h("td", { class: "num" }, num(p[c])))))));
}

/** An SVG chart of one per-minute series, drawn here (no library, no other host). */
function chart(series, key, kind) {
  const W = 560, H = 170, L = 44, B = 22, T = 8, R = 8;
  const svg = s("svg", { class: "chart " + key, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": key + " per minute", "data-chart": key });
  const values = series.map((m) => (m[key] === null || m[key] === undefined ? null : m[key]));
  const present = values.filter((v) => v !== null);
  if (!present.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, class: "tick", "text-anchor": "middle" }, "no data"));
    return svg;
  }
  const max = Math.max(1, ...present);
  const n = series.length;
  const span = W - L - R;
  // Bars sit in the middle of their minute's band; a line runs edge to edge.
  const x = kind === "bar"
    ? (i) => L + ((i + 0.5) * span) / n
    : (i) => L + (n <= 1 ? span / 2 : (i * span) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const short = (v) => (v >= 10000 ? Math.round(v / 1000) + "k" : v >= 1000 ? (v / 1000).toFixed(1) + "k" : fmt.format(Math.round(v)));
  for (const f of [0, 0.5, 1]) {
    svg.append(s("line", { class: "grid-line", x1: L, x2: W - R, y1: y(max * f), y2: y(max * f) }),
      s("text", { class: "tick", x: L - 6, y: y(max * f) + 4, "text-anchor": "end" }, short(max * f)));
  }
  svg.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const label = (i) => series[i].minute.slice(11, 16);
  svg.append(s("text", { class: "tick", x: L, y: H - 6 }, label(0)),
    s("text", { class: "tick", x: W - R, y: H - 6, "text-anchor": "end" }, label(n - 1)));
  if (kind === "bar") {
    const w = Math.min(28, Math.max(1, (span / Math.max(1, n)) * 0.7));
    values.forEach((v, i) => {
      if (!v) return;
      svg.append(s("rect", { class: "bar", x: x(i) - w / 2, y: y(v), width: w, height: H - B - y(v), rx: 2 }));
    });
  } else {
    const pts = values.map((v, i) => (v === null ? null : [x(i), y(v)])).filter(Boolean);
    const d = pts.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
    svg.append(s("path", { class: "area", d: d + " L" + pts[pts.length - 1][0] + " " + (H - B) + " L" + pts[0][0] + " " + (H - B) + " Z" }),
      s("path", { class: "line", d }));
  }
  return svg;
}

// ── Events browser ───────────────────────────────────────────────────────────────────────

function viewEvents(session) {
  const sess = h("input", { id: "ev-session", type: "number", min: 1, value: session || "", placeholder: "any" });
  const type = select("ev-type", EVENT_TYPES, "", "any type");
  const user = h("input", { id: "ev-user", placeholder: "@handle" });
  const text = h("input", { id: "ev-q", placeholder: "text in the event" });
  const table = h("div", { class: "panel" });
  const csv = h("a", { class: "button", id: "export-csv", download: "events.csv" }, "Export CSV");
  const json = h("a", { class: "button", id: "export-json", download: "events.json" }, "Export JSON");
  const query = (limit) => {
    const q = new URLSearchParams({ limit });
    if (sess.value) q.set("session", sess.value);
    if (type.value) q.set("type", type.value);
    if (user.value) q.set("user", user.value);
    if (text.value) q.set("q", text.value);
    return q;
  };
  const load = async () => {
    csv.href = "/api/events?" + query(10000) + "&format=csv";
    json.href = "/api/events?" + query(10000) + "&format=json";
    const events = await attempt(() => api("GET", "/api/events?" + query(200)));
    if (!events) return;
    table.replaceChildren(events.length ? scroller(h("table", {},
      h("thead", {}, h("tr", {}, ["#", "Session", "Time", "Type", "Viewer", "Details"].map((t) => h("th", {}, t)))),
      h("tbody", {}, events.map((e) => h("tr", {},
        h("td", { class: "mono" }, e.id), h("td", { class: "mono" }, e.session_id), h("td", { class: "mono" }, clock(e.timestamp)),
        h("td", {}, e.event_type), h("td", {}, e.user_unique_id ? (e.user_nickname || e.user_unique_id) : "–",
          e.user_unique_id ? h("div", { class: "hint" }, "@" + e.user_unique_id) : null),
        h("td", { class: "wrap" }, summarize(e)))))))
      : h("div", { class: "empty" }, "No events match."));
  };
  show(
    h("div", { class: "header-row" }, h("div", {}, h("h1", {}, "Events"), h("p", { class: "subtitle" }, "Everything captured, newest first.")),
      h("div", { class: "actions" }, csv, json)),
    h("div", { class: "panel" }, h("form", { class: "form", onsubmit: (e) => { e.preventDefault(); load(); } },
      field("Session", sess), field("Type", type), field("Viewer", user), field("Text", text),
      h("div", { class: "field" }, h("button", { class: "primary", type: "submit", id: "ev-search" }, "Search")))),
    table);
  load();
}

function summarize(e) {
  let d = {};
  try { d = JSON.parse(e.event_data); } catch (_) { return e.event_data; }
  switch (e.event_type) {
    case "GiftEvent": return (d.gift && d.gift.name) + " × " + (d.repeat_count || 1) + " (" + (d.total_diamonds || 0) + " 💎)" + (e.streak_status ? " · " + e.streak_status : "");
    case "CommentEvent": return d.comment;
    case "LikeEvent": return d.like_count + " likes";
    case "ViewerCountEvent": return d.viewer_count + " viewers";
    default: return JSON.stringify(d).slice(0, 160);
  }
}

// ── Settings ─────────────────────────────────────────────────────────────────────────────

async function viewSettings() {
  const rows = await attempt(() => api("GET", "/api/config"));
  if (!rows) return;
  const key = h("input", { id: "cfg-key", placeholder: "tiktok_user" });
  const value = h("input", { id: "cfg-value" });
  const save = (k, v) => attempt(() => api("PUT", "/api/config/" + encodeURIComponent(k), { value: v }), "Saved " + k);
  show(
    h("h1", {}, "Settings"),
    h("p", { class: "subtitle" }, "tiktok_user is the streamer capture-daemon follows when none is given, and the one test events pretend to come from."),
    h("div", { class: "panel" }, Object.keys(rows).length ? h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Value"), h("th", {}, ""))),
      h("tbody", {}, Object.entries(rows).map(([k, v]) => {
        const input = h("input", { value: v, "data-key": k });
        return h("tr", {}, h("td", { class: "mono" }, k), h("td", {}, input),
          h("td", {}, h("button", { class: "small", onclick: async () => { if (await save(k, input.value)) viewSettings(); } }, "Save")));
      }))) : h("div", { class: "empty" }, "No settings yet.")),
    h("div", { class: "panel" }, h("form", {
      class: "form", onsubmit: async (e) => { e.preventDefault(); if (await save(key.value, value.value)) viewSettings(); },
    }, h("h2", { class: "field wide" }, "Add or change a setting"), field("Key", key), field("Value", value),
    h("div", { class: "form-foot" }, h("button", { class: "primary", type: "submit" }, "Save")))));
}

// ── Start ────────────────────────────────────────────────────────────────────────────────

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  connectDashboard();
  route();
});
