// The app shell: who is signed in, which filter and conversation the address bar names
// (#/<filter>/<conversation id>), and the wiring between the list and the thread.

import { ApiError, me, onSignedOut, post } from "/static/api.js";
import "/static/conversation-list.js";
import "/static/conversation-thread.js";

const FILTER_TITLES = {
  all: "All conversations",
  mine: "My conversations",
  needs_reply: "Needs reply",
  replied: "Replied",
  flagged: "Flagged",
  unread: "Unread",
};

const list = document.getElementById("conversation-list");
const thread = document.getElementById("conversation-thread");
const title = document.getElementById("list-title");
const state = { filter: null, id: null };
const NARROW = window.matchMedia("(max-width: 900px)");

function parseRoute() {
  const [, filter, id] = window.location.hash.split("/");
  return {
    filter: filter in FILTER_TITLES ? filter : "all",
    id: /^\d+$/.test(id || "") ? Number(id) : null,
  };
}

function showFilter(filter) {
  title.textContent = FILTER_TITLES[filter];
  document.title = `${FILTER_TITLES[filter]} · Inbox`;
  for (const link of document.querySelectorAll(".filters a")) {
    if (link.dataset.filter === filter) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  const next = parseRoute();
  const filterChanged = next.filter !== state.filter;
  const idChanged = next.id !== state.id;
  state.filter = next.filter;
  state.id = next.id;
  document.body.dataset.view = next.id === null ? "list" : "thread";
  if (filterChanged) {
    showFilter(next.filter);
    list.selectedId = next.id;
    list.load(next.filter);
  }
  if (idChanged) {
    list.select(next.id);
    if (next.id === null) {
      thread.showEmpty();
    } else {
      await thread.open(next.id);
      // On a narrow screen the list the click came from is now hidden; move focus along.
      if (NARROW.matches) thread.focusHeading();
    }
  }
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
    // Already signed out is as good as signing out; anything else, let them try again.
    if (!(exc instanceof ApiError && exc.status === 401)) {
      button.disabled = false;
      return;
    }
  }
  signedOut();
}

async function start() {
  let account;
  try {
    account = await me();
  } catch {
    signedOut();
    return;
  }
  onSignedOut(signedOut);
  document.getElementById("account-name").textContent = account.name;
  document.getElementById("sign-out").addEventListener("click", signOut);
  document.addEventListener("conversation-updated", (event) => list.update(event.detail));
  document.addEventListener("thread-closed", () => {
    window.location.hash = `#/${state.filter}`;
    list.querySelector("a[aria-current]")?.focus();
  });
  window.addEventListener("hashchange", route);
  await route();
}

start();
