// Create, rename, refilter, move or delete one of my lead queues (they are private: all mine to
// edit). Server errors go next to their field. Announces "queues-changed" {id, deleted}.

import { ApiError, del, fieldErrors, patch, post, put } from "/static/api.js";
import { button, el } from "/static/dom.js";
import { FOLLOW_UP, KINDS } from "/static/format.js";

const SORTS = { newest: "Newest first", oldest: "Oldest first", due: "Due soonest", name: "By name" };
const LISTS = { lead_type: "Lead type", source: "Source", category: "Category", purchase_timeframe: "Timeframe",
  dealer: "Dealer" };

// A labelled control, or with `options` a group of checkboxes (`control`: those checked).
function field(key, label, control, options) {
  const box = el(options ? "fieldset" : "div", options ? "field choices" : "field");
  const error = el("p", "field-error", null, { id: `queue-${key}-error` });
  if (options) {
    box.append(el("legend", null, label));
    for (const [value, text] of Object.entries(options)) {
      const item = el("label", null, ` ${text}`);
      item.prepend(el("input", null, null, { type: "checkbox", name: key, value, checked: control.includes(value) }));
      box.append(item);
    }
  } else {
    control.id = `queue-${key}`;
    control.setAttribute("aria-describedby", error.id);
    box.append(el("label", null, label, { htmlFor: control.id }), control);
  }
  box.append(error);
  return box;
}

/** `queue` null: a new one; `queues`: my list, for moving. */
export function editQueue(queue, queues) {
  const c = queue?.criteria || {};
  const input = (value, type = "text") => el("input", null, null, { type, value: value || "" });
  const name = el("input", null, null, { value: queue?.name || "", maxLength: 100 });
  const sort = el("select");
  for (const [value, text] of Object.entries(SORTS)) sort.append(new Option(text, value));
  sort.value = queue?.sort || "newest";
  const lists = Object.keys(LISTS).map((key) => [key, input(c[key]?.join(", "))]);
  const from = input(c.created_from?.slice(0, 10), "date");
  const to = input(c.created_to?.slice(0, 10), "date");
  const dates = el("div", "create-grid");
  dates.append(field("criteria.created_from", "Created from", from),
    field("criteria.created_to", "Created before", to));
  const notice = el("p", "form-error", null, { role: "alert" });
  const form = el("form", "stack", null, { noValidate: true });
  const dialog = el("dialog", "dialog queue-dialog", null, { ariaLabel: queue ? "Edit lead queue" : "New lead queue" });

  const run = async (work) => {
    for (const error of dialog.querySelectorAll(".field-error, .form-error")) error.textContent = "";
    try {
      const detail = await work();
      dialog.close();
      document.dispatchEvent(new CustomEvent("queues-changed", { detail }));
    } catch (exc) {
      let placed = false;
      for (const [key, message] of Object.entries(fieldErrors(exc))) {
        const target = dialog.querySelector(`[id="queue-${key.replace(/\[\d+\]$/, "")}-error"]`);
        if (target) {
          target.textContent = message;
          placed = true;
        }
      }
      if (!placed) notice.textContent = exc instanceof ApiError ? exc.detail : "Could not save the queue.";
      dialog.querySelector(".field-error:not(:empty)")?.previousElementSibling?.focus();
    }
  };
  const day = (input) => (input.value ? `${input.value}T00:00:00Z` : null);
  const save = () => run(async () => {
    if (!name.value.trim()) throw new ApiError(400, { errors: [{ field: "name", message: "Give the queue a name." }] });
    const criteria = { created_from: day(from), created_to: day(to) };
    for (const [key, node] of lists) criteria[key] = node.value.split(",").map((v) => v.trim()).filter(Boolean);
    for (const key of ["follow_up_status", "prospect_kind"]) {
      criteria[key] = [...form.querySelectorAll(`[name="criteria.${key}"]:checked`)].map((box) => box.value);
    }
    const body = { name: name.value.trim(), sort: sort.value, criteria };
    return { id: (queue ? await patch(`/api/queues/${queue.id}`, body) : await post("/api/queues", body)).id };
  });
  const at = queues.findIndex((q) => q.id === queue?.id);
  const move = (step) => run(async () => {
    const ids = queues.map((q) => q.id);
    [ids[at], ids[at + step]] = [ids[at + step], ids[at]];
    await put("/api/queues/order", { ids });
    return { id: queue.id };
  });
  const actions = el("div", "dialog-actions");
  if (queue) {
    const remove = button("button danger", "Delete", () => {
      const gone = { id: queue.id, deleted: true };
      if (remove.dataset.sure) return run(() => del(`/api/queues/${queue.id}`).then(() => gone));
      remove.dataset.sure = "1";
      remove.textContent = "Really delete?";
    });
    const up = button("button quiet", "Move up", () => move(-1));
    const down = button("button quiet", "Move down", () => move(1));
    up.disabled = at <= 0;
    down.disabled = at === queues.length - 1;
    actions.append(remove, up, down);
  }
  actions.append(button("button quiet", "Cancel", () => dialog.close()), el("button", "button primary", "Save"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  form.append(el("h2", null, queue ? `Edit “${queue.name}”` : "New lead queue"), field("name", "Name", name),
    field("sort", "Sort", sort),
    field("criteria.follow_up_status", "Follow-up status", c.follow_up_status || [], FOLLOW_UP),
    field("criteria.prospect_kind", "Prospect kind", c.prospect_kind || [], KINDS),
    el("p", "muted", "Each list below matches any of its comma-separated values."),
    ...lists.map(([key, node]) => field(`criteria.${key}`, LISTS[key], node)), dates, notice, actions);
  dialog.append(form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  name.focus();
}
