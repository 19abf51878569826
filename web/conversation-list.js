// <conversation-list>: one filter's conversations, newest activity first, a page at a time.

import { ApiError, get } from "/static/api.js";
import { el, hiddenText } from "/static/dom.js";
import { CHANNEL_LABELS, shortTime } from "/static/format.js";

const PAGE_SIZE = 30;
const EMPTY = {
  all: "No conversations yet.",
  mine: "No conversations are assigned to you.",
  needs_reply: "Nothing needs a reply. Nice work.",
  replied: "No replied conversations.",
  flagged: "You have not flagged any conversations.",
  unread: "You're all caught up.",
};

export class ConversationList extends HTMLElement {
  constructor() {
    super();
    this.filter = "all";
    this.selectedId = null;
    this.cursor = null;
    this.generation = 0;
  }

  connectedCallback() {
    this.setAttribute("aria-busy", "false");
    this.list = el("ul", "conversations");
    this.status = el("p", "list-status");
    this.status.setAttribute("role", "status");
    this.more = el("button", "button load-more", "Load more");
    this.more.type = "button";
    this.more.hidden = true;
    this.more.addEventListener("click", () => this.loadMore());
    this.replaceChildren(this.list, this.status, this.more);
  }

  /** Show the first page of a filter. */
  async load(filter) {
    this.filter = filter;
    this.cursor = null;
    this.list.replaceChildren();
    this.more.hidden = true;
    await this.fetchPage();
  }

  async loadMore() {
    if (this.cursor) await this.fetchPage();
  }

  async fetchPage() {
    const generation = ++this.generation;
    const params = new URLSearchParams({ filter: this.filter, limit: String(PAGE_SIZE) });
    if (this.cursor) params.set("cursor", this.cursor);
    this.setAttribute("aria-busy", "true");
    this.status.textContent = this.list.childElementCount ? "Loading more…" : "Loading…";
    let page;
    try {
      page = await get(`/api/conversations?${params}`);
    } catch (exc) {
      if (generation !== this.generation) return;
      this.setAttribute("aria-busy", "false");
      this.status.textContent =
        exc instanceof ApiError ? `Could not load conversations: ${exc.detail}` : String(exc);
      return;
    }
    if (generation !== this.generation) return; // the filter changed meanwhile
    this.setAttribute("aria-busy", "false");
    for (const summary of page.items) this.list.append(this.item(summary));
    this.cursor = page.next_cursor;
    this.more.hidden = !this.cursor;
    this.status.textContent = this.list.childElementCount ? "" : EMPTY[this.filter] || "";
  }

  item(summary) {
    const li = el("li");
    li.dataset.id = String(summary.id);
    li.append(this.link(summary));
    return li;
  }

  link(summary) {
    const a = el("a", "conversation");
    a.href = `#/${this.filter}/${summary.id}`;
    a.classList.toggle("unread", summary.unread);
    if (summary.id === this.selectedId) a.setAttribute("aria-current", "true");

    const top = el("span", "conversation-top");
    const dot = el("span", "unread-dot");
    dot.setAttribute("aria-hidden", "true");
    if (summary.unread) top.append(dot, hiddenText("Unread: "));
    top.append(el("span", "conversation-name", summary.prospect_name));
    const time = el("time", "conversation-time", shortTime(summary.last_activity_at));
    time.dateTime = summary.last_activity_at;
    top.append(time);

    const preview = el("span", "conversation-preview");
    if (summary.last_direction === "outbound") preview.append(el("span", "preview-sent", "Sent: "));
    preview.append(summary.preview || "No messages yet");

    const tags = el("span", "conversation-tags");
    if (summary.last_channel) {
      tags.append(el("span", `tag channel-${summary.last_channel}`, CHANNEL_LABELS[summary.last_channel]));
    }
    if (summary.needs_reply) tags.append(el("span", "tag needs-reply", "Needs reply"));
    if (summary.flagged) tags.append(el("span", "tag flagged", "Flagged"));

    a.append(top, preview, tags);
    return a;
  }

  /** Redraw one conversation from a fresh summary, if it is on screen. */
  update(summary) {
    const li = this.list.querySelector(`li[data-id="${summary.id}"]`);
    if (!li) return;
    const hadFocus = li.contains(document.activeElement);
    const link = this.link(summary);
    li.replaceChildren(link);
    if (hadFocus) link.focus();
  }

  select(id) {
    this.selectedId = id;
    for (const a of this.list.querySelectorAll("a.conversation")) {
      const current = a.parentElement.dataset.id === String(id);
      if (current) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    }
  }
}

customElements.define("conversation-list", ConversationList);
