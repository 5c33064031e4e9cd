// chatwarden console: plain JavaScript, no build step, no dependencies.
// Every piece of data is put on the page as text (textContent), never as
// HTML: webhook payloads and chat ids come from outside.
"use strict";

const TOKEN_KEY = "chatwarden.admin_token";
const POLL_MS = 3000;

// ---- tiny DOM helpers -------------------------------------------------------

function $(sel) { return document.querySelector(sel); }

// h("tag.class", {attr: value, onclick: fn}, child, ...): children are nodes
// or strings (made text nodes); null and false are skipped.
function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el) { el.replaceChildren(); return el; }

function fmtTime(s) {
  if (!s || s.startsWith("0001-")) return "";
  const d = new Date(s);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function ago(s) {
  if (!s || s.startsWith("0001-")) return "";
  const sec = Math.max(0, Math.round((Date.now() - new Date(s).getTime()) / 1000));
  if (sec < 60) return `${sec}s ago`;
  if (sec < 3600) return `${Math.round(sec / 60)}m ago`;
  if (sec < 86400) return `${Math.round(sec / 3600)}h ago`;
  return `${Math.round(sec / 86400)}d ago`;
}

function timeCell(s) { return h("time", { datetime: s, title: fmtTime(s) }, fmtTime(s)); }

function num(n) { return (n || 0).toLocaleString("en-US", { maximumFractionDigits: 0 }); }

function badge(text, kind) { return h("span.badge." + (kind || text), {}, text); }

function chatLink(id, platform) {
  if (!id) return h("span.muted", {}, "–");
  const q = platform ? `?platform=${encodeURIComponent(platform)}` : "";
  return h("a", { href: `#chat/${encodeURIComponent(id)}${q}`, class: "chat" }, id);
}

function setStatus(text, isError) {
  const s = $("#status");
  s.textContent = text;
  s.className = isError ? "error" : "muted";
}

// ---- the API ------------------------------------------------------------------

class AuthError extends Error {}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

// api calls the admin API with the bearer token and returns the decoded JSON;
// 401 asks for the token again.
async function api(method, path) {
  const t = token();
  if (!t) { askToken(); throw new AuthError("no token"); }
  let resp;
  try {
    resp = await fetch(path, { method, headers: { "Authorization": "Bearer " + t, "Accept": "application/json" }, cache: "no-store" });
  } catch (e) {
    setStatus("cannot reach the service: " + e.message, true);
    throw e;
  }
  let body = null;
  try { body = await resp.json(); } catch (_) { /* empty or not JSON */ }
  if (resp.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken("That token was refused (401). Enter http.admin_token.");
    throw new AuthError("unauthorized");
  }
  if (resp.status === 403) {
    askToken((body && body.error) || "The admin API is disabled (403).");
    throw new AuthError("forbidden");
  }
  if (!resp.ok) {
    const msg = (body && body.error) || `${resp.status} ${resp.statusText}`;
    const err = new Error(msg);
    err.status = resp.status;
    err.body = body;
    throw err;
  }
  setStatus("connected · " + new Date().toLocaleTimeString());
  return body;
}

function askToken(message) {
  const err = $("#login-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("#login").hidden = false;
  $("#token").focus();
}

function showError(container, e) {
  if (e instanceof AuthError) return;
  clear(container).append(h("p.error", {}, e.message));
}

// ---- views ---------------------------------------------------------------------

const views = ["live", "chat", "dlq", "rules"];
let timer = null;

function route() {
  const hash = location.hash.replace(/^#/, "");
  const [name, ...rest] = hash.split("/");
  const view = views.includes(name) ? name : "live";
  for (const v of views) {
    $("#view-" + v).hidden = v !== view;
    $("#nav-" + v).classList.toggle("active", v === view);
  }
  clearTimeout(timer);
  if (!token()) { askToken(); return; }
  const arg = rest.join("/"); // still URI-encoded
  if (view === "live") refreshLive();
  if (view === "chat") openChat(arg);
  if (view === "dlq") refreshDLQ(decodeURIComponent(arg));
  if (view === "rules") refreshRules();
}

// Live: counters, consumers and recent events, refreshed every few seconds.
// liveGen makes sure only the newest refresh schedules the next one.
let liveGen = 0;

async function refreshLive() {
  clearTimeout(timer);
  const gen = ++liveGen;
  try {
    const q = new URLSearchParams({ limit: $("#ev-limit").value });
    if ($("#ev-platform").value) q.set("platform", $("#ev-platform").value);
    if ($("#ev-action").value.trim()) q.set("action", $("#ev-action").value.trim());
    const [ov, page] = await Promise.all([api("GET", "/admin/api/overview"), api("GET", "/admin/api/events?" + q)]);
    renderOverview(ov);
    renderEvents(page);
  } catch (e) {
    showError($("#counters"), e);
  }
  if (gen === liveGen && $("#ev-live").checked && !$("#view-live").hidden) timer = setTimeout(refreshLive, POLL_MS);
}

function counter(ov, name) { return ov.counters[name] || { total: 0, by: {} }; }

function card(title, value, detail, kind) {
  return h("div.card.stat" + (kind ? "." + kind : ""), {}, h("div.label", {}, title), h("div.value", {}, value), h("div.detail", {}, detail || ""));
}

function breakdown(c) {
  return Object.entries(c.by || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${num(v)}`).join(" · ");
}

function bytes(n) {
  if (n === undefined || n === null || n < 0) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

// storeCard: whether this process can store webhooks now (a 503 for each
// while it cannot) and how full the embedded broker's store is.
function storeCard(st) {
  if (!st) return null;
  const room = st.store_max_bytes ? `${bytes(st.store_used_bytes)} of ${bytes(st.store_max_bytes)} used` +
    (st.disk_free_bytes ? ` · ${bytes(st.disk_free_bytes)} free on disk` : "") : "";
  if (!st.reason) return card("store", "storing", room || "broker connected");
  return card("store", st.reason.replace("_", " "), h("span", { title: st.cause }, `webhooks answered 503 since ${ago(st.since)}: ${st.cause}`), "bad");
}

function renderOverview(ov) {
  const stream = (name) => ov.streams.find((s) => s.name === name) || {};
  const events = stream("CHATWARDEN_EVENTS"), dlq = stream("CHATWARDEN_DLQ"), aud = stream("CHATWARDEN_AUDIT");
  const workers = ov.consumers.filter((c) => c.stream === "CHATWARDEN_EVENTS");
  const pending = workers.reduce((n, c) => n + c.pending, 0), ackPending = workers.reduce((n, c) => n + c.ack_pending, 0);
  const rec = counter(ov, "webhooks_received_total"), rej = counter(ov, "webhooks_rejected_total");
  const acts = counter(ov, "actions_total"), proc = counter(ov, "events_processed_total");
  clear($("#counters")).append(
    ...[storeCard(ov.store)].filter(Boolean),
    card("webhooks in", num(rec.total), breakdown(rec) || "this process, since start"),
    card("rejected", num(rej.total), breakdown(rej), rej.total ? "warn" : ""),
    card("events stored", num(events.messages), events.last_time ? "last " + ago(events.last_time) : ""),
    card("worker lag", num(pending), `${num(ackPending)} in flight`, pending > 100 ? "warn" : ""),
    card("decisions", num(acts.total), breakdown(acts) || (proc.total ? "" : "no worker in this process")),
    card("audit records", num(aud.messages), ""),
    card("dead letters", num(dlq.messages), dlq.messages ? "waiting for retry or purge" : "none", dlq.messages ? "bad" : ""),
  );
  // Platform APIs: each circuit breaker; an open one means its events wait.
  const down = (ov.breakers || []).filter((b) => b.state !== "closed");
  if ((ov.breakers || []).length) {
    $("#counters").append(card("platform APIs", down.length ? `${num(down.length)} down` : "up",
      down.length ? down.map((b) => `${b.platform}/${b.org} ${b.state.replace("_", "-")} since ${ago(b.since)}` +
        (b.last_error ? `: ${b.last_error}` : "") + "; its events wait").join(" · ")
        : (ov.breakers || []).map((b) => `${b.platform}/${b.org}`).join(" · "),
      down.length ? "bad" : ""));
  }
  // Per partition: one column each, lag and in-flight events as rows.
  const box = clear($("#consumers"));
  if (workers.length > 1 || workers.some((c) => c.partition !== "all")) {
    const cells = (f) => workers.map((c) => h("td" + (f(c) ? ".hot" : ""), { title: c.name }, num(f(c))));
    box.append(h("table.grid.partitions", {},
      h("thead", {}, h("tr", {}, h("th", {}, "partition"), workers.map((c) => h("th", { title: c.name }, c.partition)))),
      h("tbody", {},
        h("tr", {}, h("th", {}, "lag"), cells((c) => c.pending)),
        h("tr", {}, h("th", {}, "in flight"), cells((c) => c.ack_pending)),
        h("tr", {}, h("th", {}, "redelivered"), cells((c) => c.redelivered)))));
  }
}

function eventLabel(ev) {
  if (!ev) return h("span.muted", {}, "event no longer stored");
  return h("span", {}, h("b", {}, ev.platform + "." + ev.action),
    ev.source !== "webhook" ? [" ", badge(ev.source, "source")] : null,
    ev.recheck ? h("div.muted", {}, `re-check of ${ev.recheck.rule}`) : null);
}

function decisionList(entry) {
  const items = entry.decisions.map((d) => h("li.decision", { dataset: { rule: d.rule, outcome: d.outcome } },
    badge(d.outcome.replace("_", " "), d.outcome), " ", h("b", {}, d.rule),
    d.operation ? [" → ", h("code", {}, d.operation)] : null,
    d.error ? h("div.error", {}, d.error) : (d.reason ? h("div.muted", {}, d.reason) : null)));
  for (const dl of entry.dead_letters) {
    items.push(h("li.deadletter", { dataset: { seq: dl.seq } }, badge("dead letter", "bad"), " ",
      h("a", { href: "#dlq/" + dl.seq }, "#" + dl.seq), ` ${dl.reason}${dl.cause ? " (" + dl.cause + ")" : ""}: `, h("span.error", {}, dl.error)));
  }
  if (!items.length) return h("span.muted", {}, "no rule matched");
  return h("ul.decisions", {}, items);
}

function renderEvents(page) {
  const body = clear($("#events tbody"));
  for (const e of page.entries) {
    const ev = e.event;
    body.append(h("tr.entry", { dataset: { eventId: e.event_id } },
      h("td.nowrap", {}, timeCell(e.time), h("div.muted", {}, ago(e.time))),
      h("td", {}, eventLabel(ev)),
      h("td", {}, chatLink(ev ? ev.chat_id : "", ev ? ev.platform : "")),
      h("td", {}, decisionList(e))));
  }
  if (!page.entries.length) body.append(h("tr", {}, h("td.muted", { colspan: 4 }, "No events stored yet. Point a webhook at /webhooks/livechat.")));
  $("#ev-note").textContent = page.truncated ? `(read ${num(page.scanned)} messages; older ones not shown)` : "";
}

// Chat: the timeline of one chat.
function openChat(arg) {
  const [raw, query] = arg.split("?");
  const id = decodeURIComponent(raw || "");
  const params = new URLSearchParams(query || "");
  if (id) {
    $("#chat-id").value = id;
    $("#chat-platform").value = params.get("platform") || "";
    loadTimeline();
  } else {
    $("#chat-id").focus();
  }
}

async function loadTimeline() {
  const id = $("#chat-id").value.trim();
  if (!id) return;
  const q = new URLSearchParams({ chat_id: id });
  if ($("#chat-platform").value) q.set("platform", $("#chat-platform").value);
  if ($("#chat-since").value) q.set("since", $("#chat-since").value);
  const box = $("#timeline");
  $("#chat-note").textContent = "loading…";
  try {
    const t = await api("GET", "/admin/api/timeline?" + q);
    renderTimeline(t);
  } catch (e) {
    $("#chat-note").textContent = "";
    showError(box, e);
  }
}

function renderTimeline(t) {
  const box = clear($("#timeline"));
  $("#chat-note").textContent = `${t.count} event${t.count === 1 ? "" : "s"}` + (t.truncated ? ` (read ${num(t.scanned)} messages; older ones not shown)` : "");
  if (!t.entries.length) {
    box.append(h("p.muted", {}, `Nothing stored for chat ${t.chat_id}.`));
    return;
  }
  const list = h("ol.timeline", { dataset: { chat: t.chat_id } });
  for (const e of t.entries) {
    const ev = e.event;
    list.append(h("li.entry.card", { dataset: { eventId: e.event_id } },
      h("div.entry-head", {}, timeCell(e.time), " ", eventLabel(ev),
        ev ? h("span.muted", {}, ` · seq ${ev.seq} · thread ${ev.thread_id || "–"}`) : null),
      decisionList(e),
      ev && ev.payload ? h("details", {}, h("summary", {}, `payload (${num(ev.payload_bytes)} bytes)`), h("pre", {}, JSON.stringify(ev.payload, null, 2))) : null));
  }
  box.append(list);
}

// Dead letters: list, detail, retry, purge (the /admin/dlq API).
async function refreshDLQ(seq) {
  const q = new URLSearchParams();
  if ($("#dlq-reason").value) q.set("reason", $("#dlq-reason").value);
  try {
    const l = await api("GET", "/admin/dlq?" + q);
    renderDLQ(l);
    if (seq) showDeadLetter(seq);
    else clear($("#dlq-detail"));
  } catch (e) {
    showError($("#dlq-detail"), e);
  }
}

function renderDLQ(l) {
  const body = clear($("#dlq tbody"));
  for (const dl of l.dead_letters) {
    body.append(h("tr", { dataset: { seq: dl.seq } },
      h("td", {}, h("a", { href: "#dlq/" + dl.seq }, "#" + dl.seq)),
      h("td.nowrap", {}, timeCell(dl.failed_at), h("div.muted", {}, ago(dl.failed_at))),
      h("td", {}, dl.platform ? `${dl.platform}.${dl.action}` : "–"),
      h("td", {}, chatLink(dl.chat_id, dl.platform)),
      h("td", {}, dl.rule || "–", dl.operation ? [" → ", h("code", {}, dl.operation)] : null),
      h("td", {}, badge(dl.reason, "bad"), dl.cause ? ` ${dl.cause}` : "", h("div.error", {}, dl.error)),
      h("td", {}, num(dl.attempts)),
      h("td.nowrap", {},
        h("button", { type: "button", onclick: () => retry(dl.seq) }, "Retry"), " ",
        h("button.danger", { type: "button", onclick: () => purge(dl.seq) }, "Purge"))));
  }
  if (!l.dead_letters.length) body.append(h("tr", {}, h("td.muted", { colspan: 8 }, "No dead letters. Nothing is waiting.")));
  $("#dlq-note").textContent = `${l.count} dead letter${l.count === 1 ? "" : "s"}`;
}

async function showDeadLetter(seq) {
  const box = clear($("#dlq-detail"));
  try {
    const d = await api("GET", "/admin/dlq/" + encodeURIComponent(seq));
    box.append(h("div.card", {},
      h("h3", {}, `Dead letter #${d.seq}`, " ", badge(d.reason, "bad")),
      h("p", {}, `${d.platform || "?"}.${d.action || "?"} · chat `, chatLink(d.chat_id, d.platform), ` · event ${d.id} · stored ${fmtTime(d.stored_at)} · gave up ${fmtTime(d.failed_at)} after ${d.attempts} attempt(s)`),
      h("p.error", {}, d.error),
      h("h4", {}, "Failed attempts"),
      d.failed_attempts.length ? h("ul", {}, d.failed_attempts.map((a) => h("li", {}, `#${a.attempt} ${fmtTime(a.time)} ${a.rule}${a.operation ? " → " + a.operation : ""}: `, h("span.error", {}, a.error)))) : h("p.muted", {}, "none recorded"),
      h("details", {}, h("summary", {}, "stored event"), h("pre", {}, JSON.stringify(d.event, null, 2)))));
  } catch (e) {
    showError(box, e);
  }
}

async function retry(seq) {
  try {
    const r = await api("POST", `/admin/dlq/${seq}/retry`);
    setStatus(`dead letter #${seq}: ${r.outcome} (event seq ${r.event_seq || "?"})`);
  } catch (e) {
    if (!(e instanceof AuthError)) setStatus(`retry of #${seq} failed: ${e.message}`, true);
  }
  refreshDLQ();
}

async function purge(seq) {
  if (!confirm(`Purge dead letter #${seq} for good? Its event will not be handled again.`)) return;
  try {
    const r = await api("DELETE", `/admin/dlq/${seq}`);
    setStatus(`dead letter #${seq}: ${r.outcome}`);
  } catch (e) {
    if (!(e instanceof AuthError)) setStatus(`purge of #${seq} failed: ${e.message}`, true);
  }
  refreshDLQ();
}

async function retryAll() {
  const reason = $("#dlq-reason").value;
  const q = new URLSearchParams();
  if (reason) q.set("reason", reason);
  try {
    const preview = await api("POST", "/admin/dlq/retry?dry_run=true&" + q);
    if (!preview.done) { setStatus("nothing to retry"); return; }
    if (!confirm(`Retry ${preview.done} dead letter(s)${reason ? " with reason " + reason : ""}?`)) return;
    const r = await api("POST", "/admin/dlq/retry?" + q);
    setStatus(`retried ${r.done}, skipped ${r.skipped}, failed ${r.failed}`);
  } catch (e) {
    if (!(e instanceof AuthError)) setStatus("retry all failed: " + e.message, true);
  }
  refreshDLQ();
}

// Rules: the rules in force, their mode and decisions.
async function refreshRules() {
  try {
    const set = await api("GET", "/admin/api/rules?since=" + encodeURIComponent($("#rules-since").value));
    renderRules(set);
  } catch (e) {
    clear($("#rules tbody")).append(h("tr", {}, h("td.error", { colspan: 7 }, e.message)));
  }
}

function renderRules(set) {
  const body = clear($("#rules tbody"));
  const order = ["acted", "dry_run", "scheduled", "skipped", "failed"];
  for (const r of set.rules) {
    const hits = order.filter((o) => r.hits[o]).map((o) => h("span.hit", {}, badge(o.replace("_", " "), o), " ", num(r.hits[o])));
    body.append(h("tr.rule", { dataset: { rule: r.name } },
      h("td", {}, h("b", {}, r.name), r.description ? h("div.muted", {}, r.description) : null),
      h("td", {}, r.on.join(", ")),
      h("td", {}, r.if ? h("code", {}, r.if) : h("span.muted", {}, "always"), r.after ? h("div.muted", {}, "re-checked after " + r.after) : null),
      h("td", {}, r.then.map((t) => h("div", {}, h("code", {}, t)))),
      h("td", {}, r.dry_run ? badge("dry run", "dry_run") : badge("live", "acted"),
        r.dry_run && !r.rule_dry_run ? h("div.muted", {}, "all rules") : null),
      h("td", {}, hits.length ? hits : h("span.muted", {}, "none"), h("div.muted", {}, `${num(r.total)} in all`)),
      h("td.nowrap", {}, r.last_hit ? [timeCell(r.last_hit), h("div.muted", {}, ago(r.last_hit))] : "–")));
  }
  $("#rules-note").textContent = `${set.source}${set.dry_run_all ? " · every rule in dry run" : ""}` +
    (set.truncated ? ` · counted from the newest ${num(set.scanned)} records` : "");
}

// ---- wiring -------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    $("#login").hidden = true;
    route();
  });
  $("#signout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); askToken(); });
  $("#chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = $("#chat-id").value.trim();
    const p = $("#chat-platform").value;
    const target = "#chat/" + encodeURIComponent(id) + (p ? "?platform=" + encodeURIComponent(p) : "");
    if (location.hash === target) loadTimeline(); else location.hash = target;
  });
  for (const id of ["#ev-platform", "#ev-limit", "#ev-live"]) $(id).addEventListener("change", refreshLive);
  $("#ev-action").addEventListener("change", refreshLive);
  $("#dlq-reason").addEventListener("change", () => refreshDLQ());
  $("#dlq-refresh").addEventListener("click", () => refreshDLQ());
  $("#dlq-retry-all").addEventListener("click", retryAll);
  $("#rules-since").addEventListener("change", refreshRules);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && !$("#view-live").hidden) refreshLive(); });
  window.addEventListener("hashchange", route);
  route();
});
