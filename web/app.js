// The app shell: routing (addresses in README.md), live events, sidebar counts, the keyboard.

import { ApiError, get, me, onSignedOut, post } from "/static/api.js";
import "/static/conversation-list.js";
import "/static/conversation-thread.js";
import { button, el } from "/static/dom.js";
import { toast } from "/static/notifications.js";
import "/static/prospect-panel.js";
import "/static/queue-list.js";
import { Realtime } from "/static/realtime.js";

// The sidebar's filters: its label, and the list's title when that differs.
const FILTERS = {
  all: ["All", "All conversations"], mine: ["Mine", "My conversations"],
  needs_reply: ["Needs reply"], replied: ["Replied"], flagged: ["Flagged"], unread: ["Unread"],
};
const FILTER_TITLES = Object.fromEntries(
  Object.entries(FILTERS).map(([key, [label, title]]) => [key, title || label]));
const VIEW_TITLES = { tasks: "Tasks", search: "Messages", dashboard: "Dashboard" };
const VIEW_TAGS = { tasks: "task-view", search: "search-view", dashboard: "dashboard-view" };

async function loadView(name) {
  await import(`/static/${VIEW_TAGS[name]}.js`);
  await customElements.whenDefined(VIEW_TAGS[name]);
}
const CONNECTION_TEXT = {
  connecting: "Connecting…", live: "Live", offline: "Reconnecting…", "signed-out": "Signed out",
};
const FIRST_READY_WAIT_MS = 3000;

const $ = (id) => document.getElementById(id);
const list = $("conversation-list");
const queueList = $("queue-list");
const thread = $("conversation-thread");
const panel = $("prospect-panel");
const bell = $("bell");
const views = { search: $("search-view"), tasks: $("task-view"), dashboard: $("dashboard-view") };
const NARROW = window.matchMedia("(max-width: 900px)");
const realtime = new Realtime();
$("filter-links").append(...Object.entries(FILTERS).map(([key, [label]]) => {
  const a = el("a", null, `${label} `, { href: `#/${key}` });
  a.dataset.filter = key;
  a.append(el("span", "count"));
  a.lastChild.dataset.count = key;
  const li = el("li");
  li.append(a);
  return li;
}));
const state = { mode: null, filter: null, queue: null, id: null, title: "Inbox", unread: 0, queues: [] };

function parseRoute() {
  const [path, query = ""] = window.location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  const number = (value) => (/^\d+$/.test(value || "") ? Number(value) : null);
  const message = number(params.get("message"));
  const compose = params.get("compose") === "1";
  if (parts[0] in VIEW_TITLES) return { mode: parts[0], query };
  if (parts[0] === "queue" && number(parts[1]) !== null) {
    return { mode: "queue", queue: number(parts[1]), id: number(parts[2]), message, compose };
  }
  if (parts[0] === "conversations") return { mode: "inbox", filter: "all", id: number(parts[1]), message, compose };
  const filter = parts[0] in FILTER_TITLES ? parts[0] : "all";
  return { mode: "inbox", filter, id: number(parts[1]), message, compose };
}

function setTitle(title) {
  state.title = title;
  renderTitle();
}

function renderTitle() {
  document.title = `${state.unread ? `(${state.unread}) ` : ""}${state.title} · Inbox`;
}

function markNav(key) {
  for (const link of document.querySelectorAll(".sidebar a")) {
    if (link.dataset.filter === key) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function showMode(mode) {
  document.body.dataset.mode = mode;
  const full = mode in VIEW_TITLES;
  for (const [name, view] of Object.entries(views)) view.hidden = name !== mode;
  document.querySelector(".list-pane").hidden = full;
  document.querySelector(".thread-pane").hidden = full;
  list.hidden = mode !== "inbox";
  queueList.hidden = mode !== "queue";
}

async function route(force = false) {
  const next = parseRoute();
  const modeChanged = next.mode !== state.mode;
  state.mode = next.mode;
  showMode(next.mode);
  if (next.mode in VIEW_TITLES) {
    state.filter = state.queue = null;
    markNav(next.mode);
    setTitle(VIEW_TITLES[next.mode]);
    await Promise.all([openThread(null), loadView(next.mode)]);
    if (parseRoute().mode !== next.mode) return; // moved on meanwhile
    if (next.mode === "search") {
      const focus = views.search.show(next.query);
      if (state.focusSearch) $("search-q").focus();
      state.focusSearch = false;
      await focus;
    } else {
      await views[next.mode].load();
    }
    return;
  }
  let source = list;
  if (next.mode === "queue") {
    source = queueList;
    if (force || modeChanged || next.queue !== state.queue) {
      state.queue = next.queue;
      state.filter = null;
      markNav(`queue-${next.queue}`);
      const queue = state.queues.find((q) => q.id === next.queue);
      $("list-title").textContent = queue ? queue.name : "Lead queue";
      setTitle(queue ? queue.name : "Lead queue");
      queueList.selectedId = next.id;
      queueList.load(next.queue);
    }
  } else if (force || modeChanged || next.filter !== state.filter) {
    state.filter = next.filter;
    state.queue = null;
    markNav(next.filter);
    $("list-title").textContent = FILTER_TITLES[next.filter];
    setTitle(FILTER_TITLES[next.filter]);
    list.selectedId = next.id;
    list.load(next.filter);
  }
  document.body.dataset.view = next.id === null ? "list" : "thread";
  source.select(next.id);
  if (force || next.id !== state.id) {
    await openThread(next.id, next.message);
    if (next.id !== null && NARROW.matches) thread.focusHeading();
  } else if (next.message) {
    thread.highlight(next.message);
  }
  if (next.compose && next.id !== null) thread.focusComposer();
}

async function openThread(id, messageId = null) {
  state.id = id;
  if (id === null) {
    if (thread.conversationId !== null) thread.showEmpty();
    return;
  }
  await thread.open(id, { messageId });
}

let countsTimer = null;
let countsSeq = 0;
function refreshCountsSoon() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(refreshCounts, 150);
}

async function refreshCounts() {
  const counts = await get("/api/conversations/counts").catch(() => null);
  if (!counts) return;
  countsSeq = counts.seq;
  for (const [key, value] of Object.entries(counts)) {
    const badge = document.querySelector(`[data-count="${key}"]`);
    if (badge) badge.textContent = value ? String(value) : "";
  }
  state.unread = counts.unread;
  renderTitle();
}

let queuesTimer = null;
function refreshQueuesSoon() {
  clearTimeout(queuesTimer);
  queuesTimer = setTimeout(loadQueues, 200);
}

async function loadQueues() {
  const queues = await get("/api/queues").catch(() => null);
  if (!queues) return;
  state.queues = queues;
  const items = queues.map((queue) => {
    const a = el("a", null, queue.name, { href: `#/queue/${queue.id}` });
    a.dataset.filter = `queue-${queue.id}`;
    a.append(" ", el("span", "count", queue.count ? String(queue.count) : ""));
    if (state.mode === "queue" && state.queue === queue.id) a.setAttribute("aria-current", "page");
    const edit = button("link-button queue-edit", "Edit", () => editQueue(queue));
    edit.ariaLabel = `Edit queue ${queue.name}`;
    const li = el("li");
    li.append(a, edit);
    return li;
  });
  if (!items.length) items.push(el("li", "nav-empty", "No saved queues"));
  $("queue-links").replaceChildren(...items);
}

async function editQueue(queue) {
  const { editQueue: open } = await import("/static/queue-editor.js");
  open(queue, state.queues);
}

async function queuesChanged({ id, deleted }) {
  await loadQueues();
  if (state.mode !== "queue" || state.queue !== id) return;
  if (deleted) window.location.hash = "#/all";
  else route(true);
}

async function loadAll() {
  await Promise.all([refreshCounts(), loadQueues(), bell.load()]);
  await route(true);
}

// Frames that arrive before the state has loaded wait here; each view then applies those
// above the seq of its own snapshot.
let early = [];

function onEvent(frame) {
  if (early) return void early.push(frame);
  const data = frame.data || {};
  switch (frame.type) {
    case "message.created":
    case "conversation.updated":
      if (frame.seq > countsSeq) refreshCountsSoon();
      if (frame.seq > list.seq) list.refreshSoon();
      if (state.mode === "dashboard") views.dashboard.load();
    // fall through
    case "message.updated":
      thread.apply(frame);
      break;
    case "notification.created": {
      const n = data.notification;
      bell.added(n);
      if (n.kind === "reply_received") {
        toast(n.title, n.body, n.conversation_id ? `#/all/${n.conversation_id}?message=${n.message_id}` : null);
      }
      break;
    }
    case "notification.read":
      bell.markedRead(data.notification_id, data.unread_count);
      break;
    case "queue.updated":
      refreshQueuesSoon();
      if (state.mode === "queue") queueList.refresh();
      if (panel.prospect && (data.prospect_id === panel.prospect.id || (data.prospect_ids || []).includes(panel.prospect.id))) {
        panel.refresh("leads");
      }
      break;
    case "task.updated":
      if (panel.prospect?.id === data.prospect_id) panel.refresh("tasks");
      if (state.mode === "tasks") views.tasks.load();
      if (state.mode === "dashboard") views.dashboard.load();
      break;
    case "prospect.updated":
      if (panel.prospect?.id === data.prospect_id) {
        panel.refresh("sms");
        thread.composer?.loadConsent();
      }
      break;
  }
}

function showConnection(connectionState) {
  const box = $("connection");
  box.dataset.state = connectionState;
  box.querySelector(".connection-text").textContent = CONNECTION_TEXT[connectionState] || connectionState;
  box.title = connectionState === "live" ? "Live updates are on" : "Live updates will resume by themselves";
}

function firstReady() {
  return new Promise((resolve) => {
    realtime.addEventListener("ready", () => resolve(), { once: true });
    setTimeout(resolve, FIRST_READY_WAIT_MS);
  });
}

function typing(target) {
  return target.closest?.("input, textarea, select, [contenteditable=true], dialog");
}

function move(step) {
  const source = state.mode === "queue" ? queueList : list;
  const id = source.neighbour(step);
  if (id === null) return;
  window.location.hash = state.mode === "queue" ? `#/queue/${state.queue}/${id}` : `#/${state.filter}/${id}`;
  requestAnimationFrame(() => source.focusSelected());
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Escape") {
    if (bell.close(true)) return;
    if (typing(event.target) && event.target.closest("message-composer")) {
      event.target.blur();
      thread.focusHeading();
      return;
    }
    // The address, not state.id: j's hashchange may not have come yet.
    if (parseRoute().id != null && !typing(event.target)) closeThread();
    return;
  }
  if (typing(event.target)) return;
  const inList = state.mode === "inbox" || state.mode === "queue";
  if (event.key === "j" && inList) move(1);
  else if (event.key === "k" && inList) move(-1);
  else if (event.key === "r" && state.id !== null) thread.focusComposer();
  else if (event.key === "f" && state.id !== null) thread.toggleFlag();
  else if (event.key === "/") {
    if (state.mode === "search") $("search-q").focus();
    else {
      state.focusSearch = true;
      window.location.hash = "#/search";
    }
  } else return;
  event.preventDefault();
}

function closeThread() {
  const back = state.mode === "queue" ? `#/queue/${state.queue}` : `#/${state.filter || "all"}`;
  window.location.hash = back;
  requestAnimationFrame(() => (state.mode === "queue" ? queueList : list).focusSelected());
}

function signedOut() {
  window.location.assign("/login");
}

async function signOut(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await post("/api/auth/logout");
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 401)) {
      button.disabled = false;
      return;
    }
  }
  signedOut();
}

async function start() {
  const account = await me().catch(() => null);
  if (!account) {
    signedOut();
    return;
  }
  onSignedOut(signedOut);
  $("account-name").textContent = account.name;
  $("sign-out").addEventListener("click", signOut);
  $("new-conversation").addEventListener("click", async () => {
    const { startConversation } = await import("/static/new-conversation.js");
    startConversation();
  });
  $("queue-new").addEventListener("click", () => editQueue(null));
  document.addEventListener("queues-changed", (event) => queuesChanged(event.detail));
  document.addEventListener("conversation-updated", (event) => list.update(event.detail));
  document.addEventListener("thread-closed", closeThread);
  document.addEventListener("thread-opened", (event) => {
    const opened = event.detail.thread;
    realtime.setPresence(opened ? opened.conversation.id : null, false);
    if (opened) panel.show(opened.prospect);
    else panel.clear();
  });
  document.addEventListener("composing", (event) => {
    realtime.setPresence(thread.conversationId, event.detail.composing);
  });
  document.addEventListener("toggle-details", () => document.body.classList.toggle("details-open"));
  document.addEventListener("keydown", onKey);
  realtime.addEventListener("state", (event) => showConnection(event.detail.state));
  realtime.addEventListener("event", (event) => onEvent(event.detail));
  realtime.addEventListener("presence", (event) => thread.setPresence(event.detail));
  realtime.addEventListener("resync", () => {
    if (realtime.readyOnce) loadAll();
  });
  realtime.addEventListener("signed-out", signedOut);
  // A fresh tab loads its state after "ready": replaying the log would be wasted.
  if (realtime.seq === 0 && Number.isSafeInteger(account.last_seq)) realtime.seq = account.last_seq;
  const ready = firstReady();
  realtime.connect();
  await ready;
  window.addEventListener("hashchange", () => route());
  await loadAll();
  const frames = early;
  early = null;
  frames.forEach(onEvent);
}

start();
