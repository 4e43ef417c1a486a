// The cluster console. It reads one stream of the cluster's state (server-sent events
// from /api/ui/events) and draws it. Every value goes into the page with textContent or
// a data attribute, never as markup: a record or a server name cannot inject anything.
"use strict";

const $ = (id) => document.getElementById(id);

let latest = null;   // the newest ClusterState
let lastMessage = 0; // when it came (ms)
let following = false;

// An address is only ever used in a link if it looks like one.
const addrPattern = /^[A-Za-z0-9.\-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$/;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function connect() {
  const source = new EventSource("/api/ui/events");
  source.addEventListener("state", (e) => {
    lastMessage = Date.now();
    setConnection(true);
    latest = JSON.parse(e.data);
    render(latest);
  });
  source.onerror = () => setConnection(false);
}

function setConnection(ok) {
  const c = $("connection");
  c.textContent = ok ? "live" : "connection lost: retrying";
  c.className = "conn " + (ok ? "conn-ok" : "conn-lost");
}

// If the server that serves this page stops answering (in lab mode it may be the
// leader that was just killed), follow the page on a server that is up.
setInterval(() => {
  if (!latest || following || Date.now() - lastMessage < 2500) return;
  setConnection(false);
  if (!latest.lab) return; // outside lab mode other servers' addresses may not be reachable from here
  const next = latest.servers.find((s) => s.up && s.name !== latest.served_by && addrPattern.test(s.http_addr || ""));
  if (!next) return;
  following = true;
  $("connection").textContent = "lost " + latest.served_by + ": following " + next.name;
  location.href = "http://" + next.http_addr + "/ui/";
}, 500);

function render(cs) {
  $("served-by").textContent = cs.served_by;
  $("leader").textContent = cs.leader || "none (election)";
  $("term").textContent = cs.term;
  $("log-server").textContent = cs.served_by;
  $("lab-badge").hidden = !cs.lab;
  const note = $("lab-note");
  note.hidden = !(cs.lab && cs.lab.error);
  note.textContent = cs.lab && cs.lab.error ? "lab: " + cs.lab.error : "";
  renderServers(cs);
  renderTimeline(cs.events);
  renderRecords(cs.records);
}

function renderServers(cs) {
  const box = $("servers");
  const seen = new Set();
  for (const s of cs.servers) {
    seen.add(s.name);
    let card = box.querySelector('[data-server="' + CSS.escape(s.name) + '"]');
    if (!card) {
      card = el("article", "server");
      card.dataset.server = s.name;
      box.appendChild(card);
    }
    fillCard(card, s, cs);
  }
  for (const card of [...box.children]) {
    if (!seen.has(card.dataset.server)) card.remove();
  }
}

function roleOf(s) {
  if (!s.up) return "down";
  return s.state.role;
}

function fillCard(card, s, cs) {
  const st = s.state;
  const role = roleOf(s);
  card.dataset.role = role;
  card.dataset.up = s.up ? "true" : "false";
  card.dataset.term = st ? st.term : "";
  card.dataset.nextOffset = st ? st.next_offset : "";
  card.dataset.newestOffset = st && st.next_offset > st.lowest_offset ? st.next_offset - 1 : "";
  card.className = "server role-" + role + (st && st.cut ? " cut" : "");
  card.replaceChildren();

  const head = el("div", "card-head");
  head.append(el("span", "name", s.name), el("span", "role", role === "leader" ? "★ leader" : role));
  card.append(head);

  const status = el("div", "status");
  status.append(el("span", s.up ? "up" : "down", s.up ? "up" : "down"));
  status.append(el("span", "gossip", "gossip: " + s.gossip));
  if (s.voter || s.name === cs.served_by) status.append(el("span", "voter", "voter"));
  if (st && st.cut) status.append(el("span", "down", "cut off"));
  if (s.process) status.append(el("span", "process", "process: " + s.process.state + (s.process.pid ? " (pid " + s.process.pid + ")" : "")));
  card.append(status);

  const dl = el("dl");
  const row = (k, v) => dl.append(el("dt", "", k), el("dd", "", v));
  if (st) {
    row("term", st.term);
    row("commit index", st.commit_index);
    row("applied index", st.applied_index);
    row("last log index", st.last_index);
    row("log end offset", st.next_offset);
    row("newest offset", card.dataset.newestOffset === "" ? "none" : card.dataset.newestOffset);
    row("lag", s.lag_entries === null ? "?" : s.lag_entries + " entries, " + s.lag_records + " records");
    row("last contact", st.role === "leader" ? "is the leader" : st.last_contact_ms === null ? "never" : st.last_contact_ms + " ms ago");
    row("voted", st.vote ? st.vote.for + " in term " + st.vote.term : "never");
    row("snapshot", st.snapshot_index ? "index " + st.snapshot_index : "none");
    row("ready", st.ready ? "yes" : "catching up");
  } else {
    row("why", s.error || "unknown");
  }
  card.append(dl);
  card.append(el("div", "addrs", "http " + (s.http_addr || "?") + " · rpc " + (s.rpc_addr || "?") + " · gossip " + (s.bind_addr || "?")));

  if (cs.lab) card.append(labButtons(s, cs));
}

function labButtons(s, cs) {
  const box = el("div", "lab");
  const proc = s.process ? s.process.state : "";
  const alive = ["starting", "running", "paused", "stopping"].includes(proc);
  const cut = s.state && s.state.cut;
  const buttons = [
    ["stop", "stop", !alive || !cs.lab.supervisor],
    ["kill", "kill -9", !alive || !cs.lab.supervisor],
    [proc === "paused" ? "resume" : "pause", proc === "paused" ? "resume" : "pause", !(proc === "running" || proc === "paused")],
    ["restart", "restart", alive || !cs.lab.supervisor],
    [cut ? "heal" : "cut", cut ? "reconnect" : "cut off", !s.up],
  ];
  for (const [action, label, disabled] of buttons) {
    const b = el("button", "lab-" + action, label);
    b.type = "button";
    b.dataset.action = action;
    b.disabled = disabled;
    b.addEventListener("click", () => labAction(s.name, action));
    box.append(b);
  }
  return box;
}

async function labAction(name, action) {
  const out = $("lab-result");
  out.textContent = "lab: " + action + " " + name + "…";
  try {
    const res = await fetch("/api/lab/nodes/" + encodeURIComponent(name) + "/" + encodeURIComponent(action), {
      method: "POST",
      headers: { "X-Golog-Lab": "1" },
    });
    const body = await res.json().catch(() => ({}));
    out.textContent = res.ok ? "lab: " + action + " " + name + ": done" : "lab: " + action + " " + name + " refused: " + (body.error || res.status);
  } catch (err) {
    out.textContent = "lab: " + action + " " + name + " failed: " + err;
  }
}

function clock(t) {
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function renderTimeline(events) {
  const list = $("timeline");
  list.replaceChildren();
  for (const e of events.slice(-60).reverse()) {
    const li = el("li", "event kind-" + e.kind);
    li.dataset.kind = e.kind;
    li.append(el("time", "", clock(e.time)), el("span", "kind", e.kind), el("span", "text", e.text));
    list.append(li);
  }
}

function renderRecords(records) {
  const list = $("records");
  list.replaceChildren();
  for (const r of records.slice().reverse()) {
    const li = el("li", "record");
    li.dataset.offset = r.offset;
    const value = el("span", "value", r.value + (r.truncated ? "…" : ""));
    if (r.encoding === "base64") value.title = "binary: shown as base64";
    li.append(el("span", "offset", r.offset), value);
    list.append(li);
  }
}

$("produce").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("produce-value");
  const out = $("produce-result");
  const leader = latest ? latest.leader : "";
  const term = latest ? latest.term : 0;
  out.textContent = "producing…";
  try {
    const res = await fetch("/", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ record: { value: input.value } }) });
    const body = await res.json();
    if (!res.ok) {
      out.textContent = "refused: " + body.error + (body.applied ? " (applied: " + body.applied + ")" : "");
      return;
    }
    out.dataset.offset = body.offset;
    const via = latest && leader && leader !== latest.served_by ? ", forwarded by " + latest.served_by : "";
    out.textContent = "appended at offset " + body.offset + " by leader " + (leader || "?") + " (term " + term + via + ")";
    input.value = "";
  } catch (err) {
    out.textContent = "failed: " + err;
  }
});

connect();
