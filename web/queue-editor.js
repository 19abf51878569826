// The lead-queue editor: create, rename, refilter, move and delete one of my saved views.
// Views are private, so whoever sees one may edit it. Announces "queues-changed".

import { ApiError, del, fieldErrors, patch, post, put } from "/static/api.js";
import { el } from "/static/dom.js";
import { FOLLOW_UP } from "/static/format.js";

const KINDS = { prospect: "Prospect", customer: "Customer", service_customer: "Service customer" };
const SORTS = { newest: "Newest first", oldest: "Oldest first", due: "Due soonest", name: "By name" };
const TEXT = { lead_type: "Lead type", source: "Source", category: "Category", purchase_timeframe: "Timeframe", dealer: "Dealer" };

let dialog = null;

function field(key, label, control) {
  const box = el("div", "field");
  const name = el("label", null, label);
  control.id = name.htmlFor = `queue-${key}`;
  const error = el("p", "field-error");
  error.id = `queue-${key}-error`;
  control.setAttribute("aria-describedby", error.id);
  box.append(name, control, error);
  return box;
}

function choices(key, legend, options, chosen) {
  const set = el("fieldset", "field choices");
  set.append(el("legend", null, legend));
  for (const [value, text] of Object.entries(options)) {
    const label = el("label");
    const box = el("input");
    box.type = "checkbox";
    box.name = key;
    box.value = value;
    box.checked = chosen.includes(value);
    label.append(box, ` ${text}`);
    set.append(label);
  }
  const error = el("p", "field-error");
  error.id = `queue-criteria.${key}-error`;
  set.append(error);
  return set;
}

function input(value, type = "text") {
  const node = el("input");
  node.type = type;
  node.value = value;
  return node;
}

/** Open the editor on `queue` (null: a new one); `queues` is my list, for moving. */
export function editQueue(queue, queues) {
  dialog?.remove();
  dialog = el("dialog", "dialog queue-dialog");
  dialog.setAttribute("aria-labelledby", "queue-title");
  const c = queue?.criteria || {};
  const form = el("form", "stack");
  form.noValidate = true;
  const title = el("h2", null, queue ? `Edit “${queue.name}”` : "New lead queue");
  title.id = "queue-title";
  const name = input(queue?.name || "");
  name.maxLength = 100;
  name.required = true;
  const sort = el("select");
  for (const [value, text] of Object.entries(SORTS)) sort.append(new Option(text, value));
  sort.value = queue?.sort || "newest";
  const texts = Object.entries(TEXT).map(([key, label]) => {
    const box = field(`criteria.${key}`, `${label} (any of, comma-separated)`, input((c[key] || []).join(", ")));
    box.querySelector("input").dataset.key = key;
    return box;
  });
  const day = (iso) => (iso ? iso.slice(0, 10) : "");
  const from = input(day(c.created_from), "date");
  const to = input(day(c.created_to), "date");
  const dates = el("div", "create-grid");
  dates.append(field("criteria.created_from", "Created from", from), field("criteria.created_to", "Created before", to));
  const notice = el("p", "form-error");
  notice.setAttribute("role", "alert");
  const actions = el("div", "dialog-actions");
  const button = (text, cls, handler) => {
    const b = el("button", `button ${cls}`, text);
    b.type = "button";
    b.addEventListener("click", handler);
    return b;
  };
  const done = (detail) => {
    dialog.close();
    document.dispatchEvent(new CustomEvent("queues-changed", { detail }));
  };
  const fail = (exc) => {
    const fields = fieldErrors(exc);
    let placed = false;
    for (const [key, message] of Object.entries(fields)) {
      const target = dialog.querySelector(`[id="queue-${key.replace(/\[\d+\]$/, "")}-error"]`);
      if (target) {
        target.textContent = message;
        placed = true;
      }
    }
    if (!placed) notice.textContent = exc instanceof ApiError ? exc.detail : "Could not save the queue.";
    dialog.querySelector(".field-error:not(:empty)")?.previousElementSibling?.focus();
  };
  const run = async (work) => {
    for (const error of dialog.querySelectorAll(".field-error, .form-error")) error.textContent = "";
    try {
      await work();
    } catch (exc) {
      fail(exc);
    }
  };
  const save = () => run(async () => {
    const criteria = {};
    for (const box of texts) {
      const node = box.querySelector("input");
      criteria[node.dataset.key] = node.value.split(",").map((v) => v.trim()).filter(Boolean);
    }
    for (const key of ["follow_up_status", "prospect_kind"]) {
      criteria[key] = [...form.querySelectorAll(`input[name="${key}"]:checked`)].map((b) => b.value);
    }
    criteria.created_from = from.value ? `${from.value}T00:00:00Z` : null;
    criteria.created_to = to.value ? `${to.value}T00:00:00Z` : null;
    if (!name.value.trim()) {
      dialog.querySelector('[id="queue-name-error"]').textContent = "Give the queue a name.";
      name.focus();
      return;
    }
    const body = { name: name.value.trim(), sort: sort.value, criteria };
    const saved = queue ? await patch(`/api/queues/${queue.id}`, body) : await post("/api/queues", body);
    done({ id: saved.id });
  });
  const move = (step) => run(async () => {
    const ids = queues.map((q) => q.id);
    const at = ids.indexOf(queue.id);
    [ids[at], ids[at + step]] = [ids[at + step], ids[at]];
    await put("/api/queues/order", { ids });
    done({ id: queue.id });
  });
  if (queue) {
    const remove = button("Delete", "danger", () => {
      if (remove.dataset.sure) {
        run(async () => {
          await del(`/api/queues/${queue.id}`);
          done({ id: queue.id, deleted: true });
        });
      } else {
        remove.dataset.sure = "1";
        remove.textContent = "Really delete?";
      }
    });
    const at = queues.findIndex((q) => q.id === queue.id);
    const up = button("Move up", "quiet", () => move(-1));
    const down = button("Move down", "quiet", () => move(1));
    up.disabled = at <= 0;
    down.disabled = at === queues.length - 1;
    actions.append(remove, up, down);
  }
  const submit = el("button", "button primary", "Save");
  actions.append(button("Cancel", "quiet", () => dialog.close()), submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  form.append(title, field("name", "Name", name), field("sort", "Sort", sort),
    choices("follow_up_status", "Follow-up status", FOLLOW_UP, c.follow_up_status || []),
    choices("prospect_kind", "Prospect kind", KINDS, c.prospect_kind || []),
    ...texts, dates, notice, actions);
  dialog.append(form);
  const shown = dialog;
  shown.addEventListener("close", () => shown.remove());
  document.body.append(dialog);
  dialog.showModal();
  name.focus();
}
