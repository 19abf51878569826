// <queue-list>: one lead queue's leads; each opens its conversation with the composer ready.

import { ApiError, get } from "/static/api.js";
import { button, el } from "/static/dom.js";
import { FOLLOW_UP, shortTime } from "/static/format.js";


export class QueueList extends HTMLElement {
  constructor() {
    super();
    this.queueId = null;
    this.selectedId = null;
    this.offset = 0;
    this.generation = 0;
  }

  connectedCallback() {
    if (this.list) return;
    this.list = el("ul", "conversations leads");
    this.status = el("p", "list-status");
    this.status.role = "status";
    this.more = button("button load-more", "Load more", () => this.fetchPage());
    this.more.hidden = true;
    this.replaceChildren(this.list, this.status, this.more);
  }

  async load(queueId) {
    this.queueId = queueId;
    this.offset = 0;
    this.list.replaceChildren();
    await this.fetchPage();
  }

  async refresh() {
    if (this.queueId === null) return;
    const scroll = this.scrollTop;
    const generation = ++this.generation;
    let page;
    try {
      page = await get(`/api/queues/${this.queueId}/leads?offset=0&limit=${Math.max(30, this.offset)}`);
    } catch {
      return;
    }
    if (generation !== this.generation) return;
    this.list.replaceChildren(...page.items.map((lead) => this.item(lead)));
    this.offset = page.items.length;
    this.more.hidden = page.next_offset === null;
    this.status.textContent = page.items.length ? "" : "This queue is empty.";
    this.scrollTop = scroll;
  }

  async fetchPage() {
    const generation = ++this.generation;
    this.status.textContent = "Loading…";
    let page;
    try {
      page = await get(`/api/queues/${this.queueId}/leads?offset=${this.offset}&limit=30`);
    } catch (exc) {
      if (generation === this.generation) {
        this.status.textContent = exc instanceof ApiError ? exc.detail : "Could not load the queue.";
      }
      return;
    }
    if (generation !== this.generation) return;
    for (const lead of page.items) this.list.append(this.item(lead));
    this.offset += page.items.length;
    this.more.hidden = page.next_offset === null;
    this.status.textContent = this.list.childElementCount ? "" : "This queue is empty.";
  }

  item(lead) {
    const li = el("li");
    li.dataset.id = String(lead.conversation_id);
    const a = el("a", "conversation lead-row");
    a.href = `#/queue/${this.queueId}/${lead.conversation_id}?compose=1`;
    if (lead.conversation_id === this.selectedId) a.setAttribute("aria-current", "true");
    const top = el("span", "conversation-top");
    top.append(el("span", "conversation-name", lead.prospect_name));
    top.append(el("time", "conversation-time", shortTime(lead.created_at), { dateTime: lead.created_at }));
    const more = el("span", "conversation-preview",
      [lead.lead_type, lead.source, lead.dealer && `Dealer: ${lead.dealer}`].filter(Boolean).join(" · "));
    const tags = el("span", "conversation-tags");
    tags.append(el("span", `tag follow-${lead.follow_up_status}`, FOLLOW_UP[lead.follow_up_status] || lead.follow_up_status));
    if (lead.due_at) tags.append(el("span", "tag", `Due ${shortTime(lead.due_at)}`));
    a.append(top, more, tags);
    li.append(a);
    return li;
  }

  select(id) {
    this.selectedId = id;
    for (const a of this.list.querySelectorAll("a.conversation")) {
      if (a.parentElement.dataset.id === String(id)) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    }
  }

  neighbour(step) {
    const ids = [...this.list.children].map((li) => Number(li.dataset.id));
    if (!ids.length) return null;
    const at = ids.indexOf(this.selectedId);
    if (at === -1) return ids[0];
    return ids[Math.max(0, Math.min(ids.length - 1, at + step))];
  }

  focusSelected() {
    (this.list.querySelector("a[aria-current]") || this.list.querySelector("a"))?.focus();
  }
}

customElements.define("queue-list", QueueList);
