// <prospect-panel>: details, phones with SMS consent, leads, and tasks (add, complete).

import { ApiError, get, post } from "/static/api.js";
import { button, el, emit } from "/static/dom.js";
import { CONSENT, FOLLOW_UP, formatPhone, KINDS, shortTime } from "/static/format.js";

function section(title, id) {
  const box = el("section", "panel-section");
  box.setAttribute("aria-labelledby", id);
  box.append(el("h3", null, title, { id }));
  return box;
}

function tomorrowAtNine() {
  const at = new Date(Date.now() + 24 * 3600 * 1000);
  at.setHours(9, 0, 0, 0);
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T09:00`;
}

export class ProspectPanel extends HTMLElement {
  constructor() {
    super();
    this.prospect = null;
    this.generation = 0;
  }

  connectedCallback() {
    this.ariaLabel = "Prospect";
    if (!this.prospect) this.replaceChildren();
  }

  clear() {
    this.prospect = null;
    this.generation++;
    this.replaceChildren();
  }

  async show(prospect) {
    const generation = ++this.generation;
    this.prospect = prospect;
    this.details = section(prospect.name, "panel-name");
    this.phones = section("Phones", "panel-phones");
    this.leads = section("Leads", "panel-leads");
    this.tasks = section("Tasks", "panel-tasks");
    this.renderDetails(prospect);
    const close = button("button quiet panel-close", "Close details", () =>
      emit(this, "toggle-details"));
    this.replaceChildren(close, this.details, this.phones, this.leads, this.tasks);
    await Promise.all([
      this.loadPhones(generation),
      this.loadLeads(generation),
      this.loadTasks(generation),
    ]);
  }

  refresh(what) {
    if (!this.prospect) return;
    const generation = this.generation;
    if (what === "tasks") this.loadTasks(generation);
    else if (what === "leads") this.loadLeads(generation);
    else if (what === "sms") this.loadPhones(generation);
  }

  renderDetails(p) {
    const list = el("dl", "facts");
    const add = (term, value) => {
      if (!value) return;
      list.append(el("dt", null, term), el("dd", null, value));
    };
    add("Type", KINDS[p.kind] || p.kind);
    add("Interested in", p.product_of_interest);
    add("Email", p.emails.join(", "));
    add("Postal code", p.postal_code);
    this.details.append(list);
  }

  async loadPhones(generation) {
    const box = this.phones;
    let status;
    try {
      status = await get(`/api/prospects/${this.prospect.id}/sms`);
    } catch {
      status = null;
    }
    if (generation !== this.generation) return;
    box.replaceChildren(box.firstElementChild);
    if (status) {
      const line = el("p", "consent-line");
      const dot = el("span", `consent-dot consent-${status.status}`, null, { ariaHidden: "true" });
      line.append(dot, ` SMS: ${CONSENT[status.status]} — ${status.reason}`);
      box.append(line);
    }
    const phones = status ? status.phones : this.prospect.phones;
    if (!phones.length) {
      box.append(el("p", "muted", "No phone numbers."));
      return;
    }
    const list = el("ul", "plain-list");
    for (const phone of phones) {
      const li = el("li", "phone");
      li.append(el("span", null, `${formatPhone(phone.e164)} `), el("span", "muted", phone.kind));
      if ("can_text" in phone) {
        li.append(el("span", `tag ${phone.can_text ? "ok" : ""}`, phone.can_text ? "Takes texts" : "No texts"));
      }
      list.append(li);
    }
    box.append(list);
  }

  async loadLeads(generation) {
    const box = this.leads;
    const leads = await get(`/api/prospects/${this.prospect.id}/leads`).catch(() => null);
    if (!leads || generation !== this.generation) return;
    box.replaceChildren(box.firstElementChild);
    if (!leads.length) {
      box.append(el("p", "muted", "No leads."));
      return;
    }
    const list = el("ul", "plain-list");
    for (const lead of leads) {
      const li = el("li", "lead");
      li.append(el("span", "lead-type", lead.lead_type));
      li.append(el("span", `tag follow-${lead.follow_up_status}`, FOLLOW_UP[lead.follow_up_status] || lead.follow_up_status));
      const more = [lead.dealer && `Dealer: ${lead.dealer}`, lead.source, lead.purchase_timeframe];
      if (lead.qualify_state === "held") more.push("Held for qualifying");
      li.append(el("span", "muted lead-more", more.filter(Boolean).join(" · ")));
      list.append(li);
    }
    box.append(list);
  }

  async loadTasks(generation) {
    const box = this.tasks;
    const params = new URLSearchParams({ prospect_id: String(this.prospect.id), assignee: "any", status: "all", limit: "50" });
    const page = await get(`/api/tasks?${params}`).catch(() => null);
    if (!page || generation !== this.generation) return;
    const open = page.items.filter((t) => t.status !== "complete").length;
    const heading = box.firstElementChild;
    heading.textContent = open ? `Tasks (${open} open)` : "Tasks";
    box.replaceChildren(heading);
    const list = el("ul", "plain-list tasks");
    for (const task of page.items) list.append(this.taskItem(task));
    if (page.items.length) box.append(list);
    else box.append(el("p", "muted", "No tasks."));
    box.append(this.taskForm());
  }

  taskItem(task) {
    const li = el("li", `task task-${task.status}`);
    const label = el("label", "task-check");
    const box = el("input", null, null, { type: "checkbox", checked: task.status === "complete" });
    if (!task.can_edit) {
      box.disabled = true;
      box.title = label.title = "Only the author, assignee or an admin may change this task.";
    }
    box.addEventListener("change", () => this.setDone(task, box));
    label.append(box, el("span", "task-text", task.description));
    const due = el("span", "task-due", task.status === "overdue" ? `Overdue · ${shortTime(task.due_at)}` : `Due ${shortTime(task.due_at)}`);
    li.append(label, due);
    return li;
  }

  async setDone(task, box) {
    box.disabled = true;
    try {
      await post(`/api/tasks/${task.id}/${box.checked ? "complete" : "reopen"}`);
    } catch {
      box.checked = !box.checked;
    } finally {
      box.disabled = false;
    }
    this.loadTasks(this.generation);
  }

  taskForm() {
    const form = el("form", "task-form");
    form.noValidate = true;
    const text = el("input", null, null, {
      id: "task-description", required: true, maxLength: 500, placeholder: "Call back about the trade-in",
    });
    const textLabel = el("label", null, "New task", { htmlFor: text.id });
    const due = el("input");
    due.id = "task-due";
    due.type = "datetime-local";
    due.value = tomorrowAtNine();
    const error = el("p", "field-error", null, { ariaLive: "polite" });
    const add = el("button", "button small", "Add task", { type: "submit" });
    form.append(textLabel, text, el("label", null, "Due", { htmlFor: due.id }), due, error, add);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const description = text.value.trim();
      if (!description || !due.value) {
        error.textContent = "Describe the task and when it is due.";
        return;
      }
      add.disabled = true;
      try {
        await post("/api/tasks", {
          prospect_id: this.prospect.id,
          description,
          due_at: new Date(due.value).toISOString(),
        });
      } catch (exc) {
        error.textContent = exc instanceof ApiError ? exc.detail : "Could not add the task.";
        add.disabled = false;
        return;
      }
      await this.loadTasks(this.generation);
      this.querySelector("#task-description")?.focus();
    });
    return form;
  }
}

customElements.define("prospect-panel", ProspectPanel);
