// <conversation-list>: one filter's conversations, newest first, by page. refresh() folds the
// first page in row by row, keeping scroll and focus, so nothing flickers.

import { ApiError, get } from "/static/api.js";
import { button, el, hiddenText } from "/static/dom.js";
import { CHANNEL_LABELS, shortTime } from "/static/format.js";
import { icon } from "/static/icons.js";

const PAGE_SIZE = 30;
const EMPTY = {
  all: "No conversations yet.", mine: "No conversations are assigned to you.",
  needs_reply: "Nothing needs a reply. Nice work.", replied: "No replied conversations.",
  flagged: "You have not flagged any conversations.", unread: "You're all caught up.",
};

function fingerprint(s) {
  return [s.prospect_name, s.preview, s.last_activity_at, s.unread, s.flagged, s.needs_reply,
    s.last_channel, s.last_direction].join("|");
}

function newer(a, b) {
  return a.last_activity_at > b.last_activity_at || (a.last_activity_at === b.last_activity_at && a.id > b.id);
}

export class ConversationList extends HTMLElement {
  constructor() {
    super();
    this.filter = "all";
    this.base = "#/all";
    this.selectedId = null;
    this.cursor = null;
    this.generation = this.seq = 0;
    this.summaries = new Map();
    this.refreshTimer = null;
  }

  connectedCallback() {
    if (this.list) return;
    this.ariaBusy = "false";
    this.list = el("ul", "conversations");
    this.status = el("p", "list-status");
    this.status.role = "status";
    this.more = button("button load-more", "Load more", () => this.loadMore());
    this.more.hidden = true;
    this.replaceChildren(this.list, this.status, this.more);
  }

  async load(filter) {
    this.filter = filter;
    this.base = `#/${filter}`;
    this.cursor = null;
    this.summaries.clear();
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
    this.ariaBusy = "true";
    this.status.textContent = this.list.childElementCount ? "Loading more…" : "Loading…";
    let page;
    try {
      page = await get(`/api/conversations?${params}`);
    } catch (exc) {
      if (generation !== this.generation) return;
      this.ariaBusy = "false";
      this.status.textContent =
        exc instanceof ApiError ? `Could not load conversations: ${exc.detail}` : String(exc);
      return;
    }
    if (generation !== this.generation) return; // the filter changed meanwhile
    this.ariaBusy = "false";
    for (const summary of page.items) {
      if (this.summaries.has(summary.id)) continue;
      this.summaries.set(summary.id, summary);
      this.list.append(this.item(summary));
    }
    this.cursor = page.next_cursor;
    this.seq = page.seq;
    this.more.hidden = !this.cursor;
    this.showEmpty();
  }

  showEmpty() {
    this.status.textContent = this.list.childElementCount ? "" : EMPTY[this.filter] || "";
  }

  refreshSoon() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), 120);
  }

  async refresh() {
    const generation = this.generation;
    const params = new URLSearchParams({ filter: this.filter, limit: String(PAGE_SIZE) });
    const page = await get(`/api/conversations?${params}`).catch(() => null);
    if (!page || generation !== this.generation) return;
    this.seq = page.seq;
    this.reconcile(page);
  }

  reconcile(page) {
    const fresh = page.items;
    const freshIds = new Set(fresh.map((s) => s.id));
    const oldest = fresh.at(-1);
    // Rows within the fresh page's span that it no longer holds have left this filter.
    for (const [id, summary] of this.summaries) {
      if (freshIds.has(id)) continue;
      if (!page.next_cursor || !oldest || newer(summary, oldest)) this.removeRow(id);
    }
    const anchor = this.scrollAnchor();
    let previous = null;
    for (const summary of fresh) {
      let li = this.list.querySelector(`li[data-id="${summary.id}"]`);
      const old = this.summaries.get(summary.id);
      if (!li) {
        li = this.item(summary);
      } else if (!old || fingerprint(old) !== fingerprint(summary)) {
        this.redraw(li, summary);
      }
      this.summaries.set(summary.id, summary);
      const want = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (want !== li) {
        const hadFocus = li.contains(document.activeElement);
        this.list.insertBefore(li, want);
        if (hadFocus) li.querySelector("a")?.focus({ preventScroll: true });
      }
      previous = li;
    }
    if (!this.cursor && page.next_cursor && this.summaries.size <= fresh.length) {
      this.cursor = page.next_cursor;
      this.more.hidden = false;
    }
    this.restoreScroll(anchor);
    this.showEmpty();
  }

  /** The first row in view and its offset, to keep it still. */
  scrollAnchor() {
    if (this.scrollTop <= 0) return null;
    const top = this.getBoundingClientRect().top;
    for (const li of this.list.children) {
      const rect = li.getBoundingClientRect();
      if (rect.bottom > top) return { li, offset: rect.top - top };
    }
    return null;
  }

  restoreScroll(anchor) {
    if (!anchor || !anchor.li.isConnected) return;
    const top = this.getBoundingClientRect().top;
    this.scrollTop += anchor.li.getBoundingClientRect().top - top - anchor.offset;
  }

  removeRow(id) {
    this.summaries.delete(id);
    this.list.querySelector(`li[data-id="${id}"]`)?.remove();
  }

  item(summary) {
    const li = el("li");
    li.dataset.id = String(summary.id);
    li.append(this.link(summary));
    return li;
  }

  redraw(li, summary) {
    const hadFocus = li.contains(document.activeElement);
    const link = this.link(summary);
    li.replaceChildren(link);
    if (hadFocus) link.focus({ preventScroll: true });
  }

  link(summary) {
    const a = el("a", "conversation");
    a.href = `${this.base}/${summary.id}`;
    a.classList.toggle("unread", summary.unread);
    if (summary.id === this.selectedId) a.setAttribute("aria-current", "true");

    const top = el("span", "conversation-top");
    if (summary.unread) {
      top.append(el("span", "unread-dot", null, { ariaHidden: "true" }), hiddenText("Unread: "));
    }
    if (summary.last_channel) {
      top.append(icon(summary.last_channel, "channel-icon"));
    }
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

  update(summary) {
    const li = this.list.querySelector(`li[data-id="${summary.id}"]`);
    if (!li) return;
    const old = this.summaries.get(summary.id);
    this.summaries.set(summary.id, summary);
    if (!old || fingerprint(old) !== fingerprint(summary)) this.redraw(li, summary);
  }

  select(id) {
    this.selectedId = id;
    for (const a of this.list.querySelectorAll("a.conversation")) {
      const current = a.parentElement.dataset.id === String(id);
      if (current) a.setAttribute("aria-current", "true");
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
    const a = this.list.querySelector("a[aria-current]") || this.list.querySelector("a");
    a?.focus({ preventScroll: false });
  }
}

customElements.define("conversation-list", ConversationList);
