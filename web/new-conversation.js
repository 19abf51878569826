// "New": find or add a prospect and open their (one) conversation with the composer ready.

import { ApiError, fieldErrors, get, post } from "/static/api.js";
import { button, el } from "/static/dom.js";

const $ = (id) => document.getElementById(id);
let searchTimer = null;
let wired = false;

function openConversation(conversationId) {
  $("new-dialog").close();
  window.location.hash = `#/all/${conversationId}?compose=1`;
}

async function find() {
  const q = $("find-q").value.trim();
  const results = $("find-results");
  if (q.length < 2) {
    results.replaceChildren();
    return;
  }
  const prospects = await get(`/api/prospects?${new URLSearchParams({ q })}`).catch(() => null);
  if (!prospects || $("find-q").value.trim() !== q) return;
  const items = prospects.slice(0, 8).map((p) => {
    const li = el("li");
    const pick = button("find-result", p.name, () => openConversation(p.conversation_id));
    pick.append(el("span", "muted", ` ${[...p.emails, ...p.phones.map((x) => x.e164)].slice(0, 2).join(" · ")}`));
    li.append(pick);
    return li;
  });
  if (!items.length) items.push(el("li", "muted", "No one matches. Add them below."));
  results.replaceChildren(...items);
}

async function create() {
  const error = $("new-error");
  error.textContent = "";
  const email = $("new-email").value.trim();
  const mobile = $("new-mobile").value.trim();
  const body = {
    first_name: $("new-first").value.trim(),
    last_name: $("new-last").value.trim(),
    emails: email ? [email] : [],
    phones: mobile ? [{ kind: "mobile", number: mobile }] : [],
  };
  if (!body.first_name && !body.last_name) {
    error.textContent = "Give at least a first or last name.";
    $("new-first").focus();
    return;
  }
  try {
    const prospect = await post("/api/prospects", body);
    openConversation(prospect.conversation_id);
  } catch (exc) {
    const fields = Object.entries(fieldErrors(exc)).map(([f, m]) => `${f}: ${m}`);
    error.textContent = fields.length ? fields.join("; ") : exc instanceof ApiError ? exc.detail : "Could not add.";
  }
}

export function startConversation() {
  const dialog = $("new-dialog");
  if (!wired) {
    wired = true;
    $("find-q").addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(find, 200);
    });
    $("new-create").addEventListener("click", create);
    $("new-cancel").addEventListener("click", () => dialog.close());
    $("find-form").addEventListener("submit", (event) => event.preventDefault());
  }
  $("find-q").value = "";
  $("find-results").replaceChildren();
  dialog.showModal();
  $("find-q").focus();
}
