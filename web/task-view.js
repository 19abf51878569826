// <task-view>: the task grid (mine and open by default), each task completed in place.

import { ApiError, get, post } from "/static/api.js";
import { el, grid } from "/static/dom.js";
import { fullTime } from "/static/format.js";

const NOT_YOURS = "Only the author, assignee or an admin may change this task.";
const STATUS = { open: "Open", overdue: "Overdue", incomplete: "Not due yet", complete: "Done", all: "All" };

export class TaskView extends HTMLElement {
  connectedCallback() {
    if (this.body) return;
    const heading = el("h1", "pane-title", "Tasks", { id: "tasks-title" });
    this.setAttribute("aria-labelledby", "tasks-title");
    const filters = el("form", "grid-filters");
    const status = el("select");
    status.id = "tasks-status";
    for (const [value, text] of Object.entries(STATUS)) status.append(new Option(text, value));
    const statusLabel = el("label", null, "Status", { htmlFor: status.id });
    const who = el("select");
    who.id = "tasks-assignee";
    who.append(new Option("Mine", "me"), new Option("Everyone's", "any"));
    for (const select of [status, who]) select.addEventListener("change", () => this.load());
    filters.append(statusLabel, status, el("label", null, "Assigned to", { htmlFor: who.id }), who);
    this.statusSelect = status;
    this.whoSelect = who;
    this.status = el("p", "list-status");
    this.status.role = "status";
    const table = grid("task-grid", "Tasks, soonest due first", ["Done", "Task", "Prospect", "Due", "Assignee"]);
    this.body = table.tBodies[0];
    const scroller = el("div", "grid-scroll");
    scroller.append(table, this.status);
    this.replaceChildren(heading, filters, scroller);
  }

  async load() {
    const params = new URLSearchParams({
      status: this.statusSelect.value,
      assignee: this.whoSelect.value,
      limit: "100",
    });
    let page;
    try {
      page = await get(`/api/tasks?${params}`);
    } catch (exc) {
      this.status.textContent = exc instanceof ApiError ? exc.detail : "Could not load tasks.";
      return;
    }
    this.body.replaceChildren(...page.items.map((task) => this.row(task)));
    this.dataset.loaded = "true";
    this.status.textContent = page.items.length ? (page.count > page.items.length ? `Showing ${page.items.length} of ${page.count}.` : "") : "No tasks here.";
  }

  row(task) {
    const tr = el("tr", `task task-${task.status}`);
    const done = el("td");
    const box = el("input", null, null, { type: "checkbox", checked: task.status === "complete" });
    box.ariaLabel = `Done: ${task.description}`;
    if (!task.can_edit) {
      box.disabled = true;
      box.title = done.title = NOT_YOURS;
    }
    box.addEventListener("change", async () => {
      box.disabled = true;
      try {
        await post(`/api/tasks/${task.id}/${box.checked ? "complete" : "reopen"}`);
      } catch (exc) {
        box.checked = !box.checked;
        this.status.textContent = exc instanceof ApiError ? exc.detail : "Could not change the task.";
      }
      box.disabled = false;
    });
    done.append(box);
    const prospect = el("td");
    prospect.append(el("a", null, task.prospect_name, { href: `#/all/${task.conversation_id}` }));
    const due = el("td", "task-due", fullTime(task.due_at));
    if (task.status === "overdue") due.append(el("span", "tag overdue", " Overdue"));
    tr.append(done, el("td", null, task.description), prospect, due, el("td", null, task.assignee_name || "Nobody"));
    return tr;
  }
}

customElements.define("task-view", TaskView);
