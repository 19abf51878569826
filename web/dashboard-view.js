// <dashboard-view>: longest waiting conversations, my open tasks, my queues.

import { ApiError, get } from "/static/api.js";
import { el } from "/static/dom.js";
import { shortTime } from "/static/format.js";

function waited(seconds) {
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

function card(title, id) {
  const box = el("section", "card");
  box.setAttribute("aria-labelledby", id);
  box.append(el("h2", null, title, { id }));
  return box;
}

export class DashboardView extends HTMLElement {
  connectedCallback() {
    if (this.cards) return;
    this.setAttribute("aria-labelledby", "dashboard-title");
    this.cards = el("div", "cards");
    this.replaceChildren(el("h1", "pane-title", "Dashboard", { id: "dashboard-title" }), this.cards);
  }

  async load() {
    let data;
    try {
      data = await get("/api/dashboard");
    } catch (exc) {
      this.cards.replaceChildren(el("p", "list-status", exc instanceof ApiError ? exc.detail : "Could not load."));
      return;
    }
    const waiting = card(`Needs a reply (${data.needs_follow_up_count})`, "dash-waiting");
    const list = el("ul", "plain-list");
    for (const item of data.needs_follow_up) {
      const li = el("li", "dash-row");
      const a = el("a", null, item.prospect_name, { href: `#/needs_reply/${item.conversation_id}` });
      li.append(a, el("span", "muted", ` waiting ${waited(item.wait_seconds)}`), el("p", "muted dash-preview", item.preview));
      list.append(li);
    }
    waiting.append(data.needs_follow_up.length ? list : el("p", "muted", "Nothing is waiting."));

    const tasks = card(`My open tasks (${data.my_open_tasks}, ${data.my_overdue_tasks} overdue)`, "dash-tasks");
    const taskList = el("ul", "plain-list");
    for (const task of data.my_tasks) {
      const li = el("li", `dash-row task-${task.status}`);
      const a = el("a", null, task.prospect_name, { href: `#/all/${task.conversation_id}` });
      li.append(el("span", null, `${task.description} — `), a, el("span", "muted", ` due ${shortTime(task.due_at)}`));
      if (task.status === "overdue") li.append(el("span", "tag overdue", "Overdue"));
      taskList.append(li);
    }
    tasks.append(data.my_tasks.length ? taskList : el("p", "muted", "No open tasks."));

    const queues = card("My queues", "dash-queues");
    const queueList = el("ul", "plain-list");
    for (const queue of data.queues) {
      const li = el("li", "dash-row");
      const a = el("a", null, queue.name, { href: `#/queue/${queue.id}` });
      li.append(a, el("span", "count", String(queue.count)));
      queueList.append(li);
    }
    queues.append(data.queues.length ? queueList : el("p", "muted", "No saved queues yet."));
    this.cards.replaceChildren(waiting, tasks, queues);
  }
}

customElements.define("dashboard-view", DashboardView);
