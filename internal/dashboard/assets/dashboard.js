// pagebff live dashboard: reads /admin/dashboard/stream (text/event-stream)
// with fetch, so the admin token can go in an Authorization header, which
// EventSource cannot send. The token is kept in sessionStorage: this tab
// only, never a cookie.
"use strict";

(() => {
  const TOKEN_KEY = "pagebff.admin.token";
  const STREAM = "/admin/dashboard/stream";
  const HISTORY = 300; // points: five minutes at one a second
  const MIN_SPAN = 30; // a young history is stretched to at least this many points
  const STALE_MS = 3000;

  const $ = (id) => document.getElementById(id);
  const els = {
    status: $("status"), clock: $("clock"), forget: $("forget"),
    prompt: $("prompt"), form: $("prompt-form"), token: $("token"), promptError: $("prompt-error"),
    message: $("message"), board: $("board"), services: $("services"), window: $("window"),
    redis: $("redis"), redisState: $("redis-state"), redisSince: $("redis-since"),
    template: $("service-template"),
  };

  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let controller = null;   // aborts the stream in use
  let lastFrameAt = 0;     // Date.now() of the last frame
  let retryMs = 1000;
  let retryTimer = 0;
  const cards = new Map(); // service name -> {root, parts}
  const series = { t: [], pages: { rate: [], p99: [], inflight: [], shed: [] }, services: new Map() };

  // ---- formatting ----
  const num = (v) => {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    if (v === 0) return "0";
    if (Math.abs(v) < 10) return v.toFixed(1);
    return Math.round(v).toLocaleString("en");
  };
  const ms = (v) => (v === null || v === undefined) ? "—" : (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)) + " ms";
  const count = (v) => (v === null || v === undefined) ? "—" : Number(v).toLocaleString("en");
  const duration = (millis) => {
    let s = Math.max(0, Math.floor(millis / 1000));
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const pad = (x) => String(x).padStart(2, "0");
    if (h > 0) return `${h}h ${pad(m)}m`;
    if (m > 0) return `${m}m ${pad(s)}s`;
    return `${s}s`;
  };
  const since = (state, now) => (state.since_start ? "≥ " : "for ") + duration(now - state.since);

  // ---- views ----
  function show(view, text) {
    els.prompt.hidden = view !== "prompt";
    els.board.hidden = view !== "board";
    els.message.hidden = view !== "message";
    if (view === "message") els.message.textContent = text;
    if (view === "prompt") {
      els.promptError.textContent = text || "";
      els.token.value = "";
      els.token.focus();
    }
    els.forget.hidden = token === "";
  }

  function setStatus(text, cls) {
    els.status.textContent = text;
    els.status.className = "status " + (cls || "");
  }

  // ---- sparklines ----
  function push(arr, v) {
    arr.push(v === null || v === undefined ? null : v);
    if (arr.length > HISTORY) arr.shift();
  }

  function addPoint(p) {
    const last = series.t[series.t.length - 1];
    if (last !== undefined && p.t <= last) return; // already have it
    push(series.t, p.t);
    push(series.pages.rate, p.pages.per_sec);
    push(series.pages.p99, p.pages.p99_ms);
    push(series.pages.inflight, p.pages.inflight);
    push(series.pages.shed, p.pages.shed_per_sec);
    const names = new Set([...series.services.keys(), ...Object.keys(p.services || {})]);
    for (const name of names) {
      let s = series.services.get(name);
      if (!s) {
        // A service seen for the first time has no past: pad to align.
        s = { rate: [], p99: [], bad: [] };
        for (let i = 1; i < series.t.length; i++) { push(s.rate, null); push(s.p99, null); push(s.bad, null); }
        series.services.set(name, s);
      }
      const v = (p.services || {})[name];
      push(s.rate, v ? v.per_sec : null);
      push(s.p99, v ? v.p99_ms : null);
      push(s.bad, v ? v.not_ok_per_sec : null);
    }
  }

  function draw(svg, values) {
    const line = svg.querySelector("polyline");
    const max = values.reduce((m, v) => (v !== null && v > m ? v : m), 0);
    const top = max > 0 ? max : 1;
    // Newest at the right edge; until there are MIN_SPAN points they
    // start at the left, then the line grows to five minutes.
    const span = Math.max(values.length, MIN_SPAN);
    const step = 300 / (span - 1);
    const offset = span - values.length;
    const pts = [];
    values.forEach((v, i) => {
      if (v === null) return;
      const x = (offset + i) * step;
      const y = 39 - (v / top) * 37;
      pts.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    line.setAttribute("points", pts.join(" "));
    const cap = svg.parentElement.querySelector(".max");
    if (cap) cap.textContent = max > 0 ? "max " + num(max) : "";
  }

  // ---- rendering ----
  function card(name) {
    let c = cards.get(name);
    if (c) return c;
    const root = els.template.content.firstElementChild.cloneNode(true);
    root.dataset.service = name;
    const q = (sel) => root.querySelector(sel);
    c = {
      root,
      name: q(".name"), breaker: q(".breaker"), since: q(".since"),
      perSec: q(".per-sec"), p50: q(".p50"), p99: q(".p99"), notOK: q(".not-ok"),
      outcomes: q(".outcomes tbody"), hedges: q("tr.hedges"), retries: q("tr.retries"),
      fresh: q(".fresh"), stale: q(".stale"), cacheTotals: q(".cache-totals"),
      sparkRate: q(".spark-rate"), sparkP99: q(".spark-p99"), sparkBad: q(".spark-bad"),
      drills: q(".drills"), drillResult: q(".drill-result"),
    };
    c.name.textContent = name;
    for (const b of root.querySelectorAll(".drills button")) {
      b.addEventListener("click", () => drill(name, b.dataset.action, c));
    }
    cards.set(name, c);
    els.services.appendChild(root);
    return c;
  }

  function breaker(el, sinceEl, state, now) {
    el.textContent = state.state + (state.forced ? " (forced)" : "");
    el.className = "breaker state-" + state.state;
    sinceEl.textContent = since(state, now);
  }

  function pair(row, v) {
    row.querySelector(".sent-rate").textContent = num(v.sent_per_sec);
    row.querySelector(".won-rate").textContent = num(v.won_per_sec);
    row.querySelector(".sent").textContent = count(v.sent);
    row.querySelector(".won").textContent = count(v.won);
  }

  function render(snap) {
    const now = snap.t;
    els.clock.textContent = new Date(now).toLocaleTimeString();
    els.window.textContent = Math.round(snap.window_s) || 10;
    const pg = snap.pages;
    $("pages-per-sec").textContent = num(pg.per_sec);
    $("pages-p50").textContent = ms(pg.p50_ms);
    $("pages-p99").textContent = ms(pg.p99_ms);
    $("pages-inflight").textContent = num(pg.inflight);
    $("pages-shed").textContent = num(pg.shed_per_sec) + (pg.shed ? ` (${count(pg.shed)})` : "");
    $("pages-total").textContent = count(pg.total);
    draw($("spark-pages-rate"), series.pages.rate);
    draw($("spark-pages-p99"), series.pages.p99);
    draw($("spark-pages-inflight"), series.pages.inflight);
    draw($("spark-pages-shed"), series.pages.shed);

    els.redis.hidden = !snap.redis;
    if (snap.redis) breaker(els.redisState, els.redisSince, snap.redis, now);

    const seen = new Set();
    for (const s of snap.services || []) {
      seen.add(s.name);
      const c = card(s.name);
      breaker(c.breaker, c.since, s.breaker, now);
      c.perSec.textContent = num(s.per_sec);
      c.p50.textContent = ms(s.p50_ms);
      c.p99.textContent = ms(s.p99_ms);
      c.notOK.textContent = num(s.not_ok_per_sec);
      const rows = (s.outcomes || []).map((o) => {
        const tr = document.createElement("tr");
        tr.className = o.status === "ok" ? "ok" : o.status === "stale" ? "not-ok" : "error";
        for (const text of [o.status === "ok" ? "ok" : `${o.status} ${o.code}`, num(o.per_sec), count(o.total)]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.appendChild(td);
        }
        return tr;
      });
      c.outcomes.replaceChildren(...rows);
      pair(c.hedges, s.hedges);
      pair(c.retries, s.retries);
      c.fresh.textContent = num(s.cache.fresh_per_sec);
      c.stale.textContent = num(s.cache.stale_per_sec);
      c.cacheTotals.textContent = `(${count(s.cache.fresh)} fresh, ${count(s.cache.stale)} stale in all)`;
      const sp = series.services.get(s.name);
      if (sp) {
        draw(c.sparkRate, sp.rate);
        draw(c.sparkP99, sp.p99);
        draw(c.sparkBad, sp.bad);
      }
      c.drills.hidden = token === "";
      c.root.hidden = false;
    }
    for (const [name, c] of cards) {
      if (!seen.has(name)) c.root.hidden = true; // removed by a reload
    }
  }

  function onFrame(frame) {
    lastFrameAt = Date.now();
    document.body.classList.remove("stale");
    if (!els.status.classList.contains("live")) setStatus("live", "live");
    for (const p of frame.history || []) addPoint(p);
    if (frame.latest) render(frame.latest);
  }

  // ---- drills ----
  async function drill(service, action, c) {
    c.drillResult.textContent = action + "…";
    try {
      const res = await fetch(`/admin/breakers/${encodeURIComponent(service)}/${action}`, {
        method: "POST", headers: headers(), cache: "no-store",
      });
      if (res.status === 401) {
        forgetToken("The token was refused.");
        return;
      }
      c.drillResult.textContent = res.ok ? `${action}: done` : `${action}: ${await errorText(res)}`;
    } catch (e) {
      c.drillResult.textContent = `${action}: ${e.message}`;
    }
  }

  // ---- the stream ----
  function headers() {
    return token ? { Authorization: "Bearer " + token } : {};
  }

  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error) return body.error;
    } catch (e) { /* not JSON */ }
    return `HTTP ${res.status}`;
  }

  function forgetToken(why) {
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    if (controller) controller.abort();
    controller = null;
    clearTimeout(retryTimer);
    setStatus("token needed", "down");
    show("prompt", why);
  }

  function reconnect() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  }

  async function connect() {
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    setStatus("connecting…");
    let res;
    try {
      res = await fetch(STREAM, { headers: headers(), signal: mine.signal, cache: "no-store" });
    } catch (e) {
      if (mine.signal.aborted) return;
      setStatus("unreachable, retrying", "down");
      reconnect();
      return;
    }
    if (res.status === 401) {
      forgetToken(token ? "The token was refused." : "");
      return;
    }
    if (res.status === 403) {
      setStatus("admin off", "down");
      show("message", await errorText(res));
      return;
    }
    if (!res.ok || !res.body) {
      setStatus(`HTTP ${res.status}, retrying`, "down");
      reconnect();
      return;
    }
    retryMs = 1000;
    setStatus("live", "live");
    show("board");
    try {
      await readEvents(res.body, mine.signal);
    } catch (e) {
      if (mine.signal.aborted) return;
    }
    if (mine.signal.aborted) return;
    setStatus("disconnected, retrying", "down");
    reconnect();
  }

  // readEvents parses text/event-stream: events end with a blank line, and
  // their "data:" lines carry one JSON frame.
  async function readEvents(body, signal) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (data) onFrame(JSON.parse(data));
      }
    }
  }

  els.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = els.token.value.trim();
    if (!t) return;
    token = t;
    sessionStorage.setItem(TOKEN_KEY, token);
    els.promptError.textContent = "";
    els.prompt.hidden = true;
    connect();
  });
  els.forget.addEventListener("click", () => forgetToken(""));

  setInterval(() => {
    if (els.board.hidden || lastFrameAt === 0) return;
    const age = Date.now() - lastFrameAt;
    if (age > STALE_MS) {
      document.body.classList.add("stale");
      if (els.status.classList.contains("live")) setStatus(`no data for ${duration(age)}`, "down");
    }
  }, 1000);

  connect();
})();
