// The dino runner, drawn by us on a canvas (blocky shapes, no sprites). Cacti come, the dino
// runs; events from the stream make it act. Each action is acked when it has finished, and
// actions run one after another.
//
// Timing does not depend on animation frames (OBS or a hidden tab may throttle them): the
// dino's height is a function of the clock, and the end of an action is a timer.
"use strict";

(function () {
  const canvas = document.getElementById("game");
  const ctx = canvas.getContext("2d");
  const W = canvas.width;
  const H = canvas.height;
  const GROUND = H - 60;
  const DINO_X = 120;
  const GRAVITY = 3600; // px/s²
  const BASE_SPEED = 480; // px/s

  // How each action plays: initial jump speed (px/s), run speed factor, duration (ms).
  const ACTIONS = {
    jump: { leap: 1050, speed: 1, ms: 0 },
    boost: { leap: 1250, speed: 1.8, ms: 1500 },
    duck: { leap: 0, speed: 1, ms: 700 },
    sparkle: { leap: 0, speed: 1, ms: 450 },
  };
  const INK = "#535353";
  const EDGE = "rgba(255, 255, 255, 0.85)";

  const state = {
    jumpAt: null,
    leap: 0,
    speed: 1,
    ducking: false,
    stumbleUntil: 0,
    score: 0,
    best: 0,
    obstacles: [],
    nextObstacle: 1.5,
    particles: [],
    clouds: [
      { x: 300, y: 70 },
      { x: 900, y: 40 },
      { x: 1400, y: 95 },
    ],
  };
  const queue = [];
  let busy = false;
  let socket = null;

  function airTime(leap) {
    return (2 * leap) / GRAVITY; // seconds
  }

  function height(now) {
    if (state.jumpAt === null) return 0;
    const t = (now - state.jumpAt) / 1000;
    const y = state.leap * t - (GRAVITY * t * t) / 2;
    if (y <= 0 && t > 0) {
      state.jumpAt = null;
      return 0;
    }
    return y;
  }

  function caption(action) {
    const node = document.getElementById("caption");
    const text = [action.user, action.detail].filter(Boolean).join(": ");
    node.textContent = text;
    node.classList.toggle("on", text.length > 0);
    clearTimeout(caption.timer);
    caption.timer = setTimeout(() => node.classList.remove("on"), 2500);
  }

  function burst(count, colors) {
    for (let i = 0; i < count; i++) {
      state.particles.push({
        x: DINO_X + 30,
        y: GROUND - 60,
        vx: (Math.random() - 0.3) * 500,
        vy: -300 - Math.random() * 500,
        born: performance.now(),
        color: colors[i % colors.length],
      });
    }
  }

  // Runs one action; resolves when it has finished on screen.
  function play(action) {
    const spec = ACTIONS[action.action] || ACTIONS.sparkle;
    const now = performance.now();
    document.body.dataset.action = action.action;
    caption(action);
    let ms = spec.ms;
    if (spec.leap > 0) {
      state.jumpAt = now;
      state.leap = spec.leap;
      ms = Math.max(ms, airTime(spec.leap) * 1000);
    }
    if (action.action === "duck") state.ducking = true;
    if (action.action === "boost") {
      state.speed = spec.speed;
      burst(40, ["#ffcc33", "#ff4fa3", "#33d6ff", "#7cff6b"]);
    }
    if (action.action === "sparkle") burst(10, ["#ff4f7b", "#ffd1dc"]);
    return new Promise((resolve) =>
      setTimeout(() => {
        state.ducking = false;
        state.speed = 1;
        resolve();
      }, ms)
    );
  }

  async function drain() {
    if (busy) return;
    busy = true;
    while (queue.length) {
      const action = queue.shift();
      await play(action);
      socket.ack(action.id);
      const acked = Number(document.body.dataset.acked || "0") + 1;
      document.body.dataset.acked = String(acked);
      document.body.dataset.lastAck = String(action.id);
    }
    delete document.body.dataset.action;
    busy = false;
  }

  // --- drawing: our own blocky dino, cacti and clouds ---------------------------------------

  function rect(x, y, w, h, color) {
    ctx.fillStyle = color;
    ctx.fillRect(Math.round(x), Math.round(y), w, h);
  }

  function outlined(draw) {
    // A light edge keeps the dark ink visible over dark scenes.
    ctx.save();
    ctx.shadowColor = EDGE;
    ctx.shadowBlur = 3;
    draw();
    ctx.restore();
  }

  function drawDino(now, y) {
    const base = GROUND - y;
    const stumbling = now < state.stumbleUntil;
    const legPhase = Math.floor(now / 90) % 2;
    outlined(() => {
      if (state.ducking) {
        rect(DINO_X - 10, base - 34, 80, 26, INK); // long low body
        rect(DINO_X + 58, base - 40, 34, 22, INK); // head forward
        rect(DINO_X + 80, base - 36, 5, 5, "#fff"); // eye
      } else {
        rect(DINO_X, base - 62, 40, 36, INK); // body
        rect(DINO_X + 22, base - 92, 40, 30, INK); // head
        rect(DINO_X + 50, base - 78, 16, 6, INK); // snout
        rect(DINO_X + 32, base - 86, 6, 6, stumbling ? "#ff4f4f" : "#fff"); // eye
        rect(DINO_X - 14, base - 58, 16, 12, INK); // tail
        rect(DINO_X + 38, base - 50, 12, 5, INK); // arm
      }
      const lift = y > 0 ? 0 : 6;
      rect(DINO_X + 6, base - 26, 9, 26 - (legPhase ? lift : 0), INK); // legs
      rect(DINO_X + 24, base - 26, 9, 26 - (legPhase ? 0 : lift), INK);
    });
  }

  function drawCactus(o) {
    outlined(() => {
      rect(o.x, GROUND - o.h, o.w, o.h, "#2f7d32");
      rect(o.x - 12, GROUND - o.h * 0.7, 12, 8, "#2f7d32");
      rect(o.x - 12, GROUND - o.h * 0.7 - 20, 8, 20, "#2f7d32");
      rect(o.x + o.w, GROUND - o.h * 0.55, 12, 8, "#2f7d32");
      rect(o.x + o.w + 4, GROUND - o.h * 0.55 - 18, 8, 18, "#2f7d32");
    });
  }

  function drawCloud(c) {
    ctx.fillStyle = "rgba(255, 255, 255, 0.75)";
    ctx.fillRect(c.x, c.y, 90, 18);
    ctx.fillRect(c.x + 20, c.y - 12, 46, 14);
  }

  function drawGround(offset) {
    outlined(() => rect(0, GROUND, W, 3, INK));
    ctx.fillStyle = INK;
    for (let x = -(offset % 64); x < W; x += 64) {
      ctx.fillRect(x, GROUND + 12, 14, 3);
      ctx.fillRect(x + 34, GROUND + 22, 6, 3);
    }
  }

  let last = performance.now();
  let travelled = 0;

  function frame(now) {
    const dt = Math.min((now - last) / 1000, 0.1);
    last = now;
    const speed = BASE_SPEED * state.speed;
    travelled += speed * dt;
    const y = height(now);

    state.nextObstacle -= dt;
    if (state.nextObstacle <= 0) {
      state.obstacles.push({ x: W + 20, w: 22, h: 50 + Math.random() * 40 });
      state.nextObstacle = 1.4 + Math.random() * 1.8;
    }
    for (const o of state.obstacles) o.x -= speed * dt;
    state.obstacles = state.obstacles.filter((o) => o.x + o.w > -40);
    for (const c of state.clouds) {
      c.x -= speed * 0.2 * dt;
      if (c.x < -120) c.x = W + Math.random() * 200;
    }

    // A cactus hit: the run starts over (the best score stays). Viewers keep it alive.
    const hit = state.obstacles.some(
      (o) => o.x < DINO_X + 50 && o.x + o.w > DINO_X + 4 && y < o.h - 6
    );
    if (hit && now >= state.stumbleUntil) {
      state.stumbleUntil = now + 800;
      state.best = Math.max(state.best, Math.floor(state.score));
      state.score = 0;
    }
    if (now >= state.stumbleUntil) state.score += dt * 10 * state.speed;

    ctx.clearRect(0, 0, W, H);
    state.clouds.forEach(drawCloud);
    drawGround(travelled);
    state.obstacles.forEach(drawCactus);
    drawDino(now, y);
    state.particles = state.particles.filter((p) => now - p.born < 1200);
    for (const p of state.particles) {
      const t = (now - p.born) / 1000;
      ctx.fillStyle = p.color;
      ctx.fillRect(p.x + p.vx * t, p.y + p.vy * t + 900 * t * t, 8, 8);
    }

    document.getElementById("score").textContent = String(Math.floor(state.score)).padStart(5, "0");
    document.getElementById("best").textContent = state.best ? "HI " + String(state.best).padStart(5, "0") : "";
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);

  socket = Pages.connect("/ws/dino", (message) => {
    if (typeof message.id !== "number") return;
    if (message.type === "cancel") {
      // The server gave up on it (timed out, counted as failed): never play it late. One
      // already playing finishes; its ack then finds nothing on the server.
      const at = queue.findIndex((a) => a.id === message.id);
      if (at >= 0) queue.splice(at, 1);
      return;
    }
    if (message.type !== "action") return;
    queue.push(message);
    drain();
  });
})();
