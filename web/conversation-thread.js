// <conversation-thread>: the messages, who else has it open, the composer; refreshed in place.
// Announces changes as a bubbling "conversation-updated" event.

import { ApiError, del, get, post, put } from "/static/api.js";
import { button, el, emit } from "/static/dom.js";
import { formatPhone } from "/static/format.js";
import "/static/message-composer.js";
import { messageItem, messageKey } from "/static/message-item.js";

let people = null; // the assignee choices, fetched once
const NEAR_BOTTOM_PX = 80;
const WINDOW = 40; // messages drawn when a thread opens
const BATCH = 100; // more drawn each time the reader goes further back

export class ConversationThread extends HTMLElement {
  constructor() {
    super();
    this.thread = null;
    this.generation = 0;
    this.keys = new Map();
    this.presence = new Map();
    this.refreshing = null;
    this.refreshAgain = false;
    this.flagStamp = 0; // bumped on each flag change: a stale refresh cannot undo it
  }

  connectedCallback() {
    if (!this.thread) this.showEmpty();
  }

  showEmpty(text = "Select a conversation to read it.") {
    this.thread = null;
    this.generation++;
    this.replaceChildren(el("p", "thread-empty", text));
    emit(this, "thread-opened", { thread: null });
  }

  get conversationId() {
    return this.thread?.conversation.id ?? null;
  }

  async open(id, { messageId = null } = {}) {
    const generation = ++this.generation;
    this.ariaBusy = "true";
    let thread;
    try {
      thread = await get(`/api/conversations/${id}`);
    } catch (exc) {
      if (generation === this.generation) {
        this.removeAttribute("aria-busy");
        this.showEmpty(exc instanceof ApiError ? exc.detail : "Could not load this conversation.");
      }
      return;
    }
    if (generation !== this.generation) return;
    performance.mark("thread:fetched"); // bench/web.py times the render from here
    this.removeAttribute("aria-busy");
    this.render(thread, messageId);
    if (messageId) this.highlight(messageId);
    if (this.composerFocusWanted) {
      this.composerFocusWanted = false;
      this.composer?.focusBody();
    }
    emit(this, "thread-opened", { thread });
    if (thread.conversation.unread) await this.markRead(generation);
  }

  /** Calls while one runs collapse into one more. */
  async refresh() {
    if (!this.thread) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        const generation = this.generation;
        const flagStamp = this.flagStamp;
        let thread;
        try {
          thread = await get(`/api/conversations/${this.thread.conversation.id}`);
        } catch {
          return;
        }
        if (generation !== this.generation) return;
        this.merge(thread, flagStamp);
      } while (this.refreshAgain);
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = null;
    }
  }

  async markRead(generation) {
    try {
      const summary = await post(`/api/conversations/${this.thread.conversation.id}/read`);
      if (generation !== this.generation) return;
      this.thread.conversation = summary;
      this.announce(summary);
    } catch {
      // Staying unread is harmless; the next open tries again.
    }
  }

  announce(summary) {
    emit(this, "conversation-updated", summary);
  }

  render(thread, messageId = null) {
    this.thread = thread;
    this.keys = new Map();
    const { prospect } = thread;
    const header = el("header", "thread-header");
    const back = button("button quiet back-button", "← Back", () => this.close());
    back.ariaLabel = "Back to conversations";
    const title = el("div", "thread-title");
    const heading = el("h2", null, prospect.name);
    heading.id = "thread-heading";
    heading.tabIndex = -1;
    const details = [prospect.product_of_interest, ...prospect.emails];
    for (const phone of prospect.phones) details.push(`${formatPhone(phone.e164)} ${phone.kind}`);
    title.append(heading, el("p", "thread-details", details.filter(Boolean).join(" · ")));
    this.flagButton = button("button flag-button", null, () => this.toggleFlag());
    const info = button("button quiet details-button", "Details", () =>
      emit(this, "toggle-details"),
    );
    info.setAttribute("aria-controls", "prospect-panel");
    this.assignee = el("select", "assignee", null, { ariaLabel: "Assigned to" });
    this.assignee.setAttribute("aria-describedby", "assignee-error");
    this.assignee.addEventListener("change", () => this.assign());
    this.assigneeError = el("span", "field-error", null, { id: "assignee-error" });
    header.append(back, title, this.assignee, this.assigneeError, info, this.flagButton);

    this.messages = el("ol", "messages", null, { ariaLabel: `Messages with ${prospect.name}`, tabIndex: 0 });
    this.presenceLine = el("p", "presence-line", null, { ariaLive: "polite" });
    this.composer = document.createElement("message-composer");
    this.replaceChildren(header, this.messages, this.presenceLine, this.composer);
    this.composer.setThread(thread);
    this.composer.addEventListener("composer-sent", (event) => this.sent(event.detail.message));
    this.composer.addEventListener("composer-conflict", (event) =>
      this.mergeMessages(event.detail.messages),
    );
    this.renderFlag();
    this.renderAssignee();
    this.renderMessages(thread.messages, messageId);
    this.messages.scrollTop = this.messages.scrollHeight;
    this.renderPresence();
  }

  async renderAssignee() {
    const select = this.assignee;
    people ||= get("/api/accounts/assignable").catch(() => {
      people = null; // try again on the next thread
      return [];
    });
    const options = [new Option("Unassigned", ""), ...(await people).map((p) => new Option(p.name, p.id))];
    if (select !== this.assignee) return; // another thread was drawn meanwhile
    if (select.options.length !== options.length) select.replaceChildren(...options);
    select.value = this.thread?.conversation.assignee_id ?? "";
  }

  setAssignee(id) {
    if (!this.thread) return;
    this.thread.conversation.assignee_id = id;
    this.renderAssignee();
  }

  async assign() {
    const id = this.thread.conversation.id;
    const assignee_id = Number(this.assignee.value) || null;
    this.assigneeError.textContent = "";
    try {
      const summary = await put(`/api/conversations/${id}/assignee`, { assignee_id });
      if (this.conversationId !== id) return;
      this.thread.conversation = summary;
      this.announce(summary);
    } catch (exc) {
      this.assigneeError.textContent = exc.detail || "Could not assign.";
      this.renderAssignee();
    }
  }

  setFlagged(flagged) {
    if (!this.thread) return;
    this.thread.conversation.flagged = flagged;
    this.flagStamp += 1;
    this.renderFlag();
  }

  renderFlag() {
    const flagged = this.thread.conversation.flagged;
    this.flagButton.ariaPressed = String(flagged);
    this.flagButton.textContent = flagged ? "Flagged" : "Flag";
    this.flagButton.classList.toggle("is-on", flagged);
  }

  /** The newest WINDOW (or from `fromId`); older ones on scroll. */
  renderMessages(messages, fromId = null) {
    this.observer?.disconnect();
    const at = fromId === null ? -1 : messages.findIndex((m) => m.id === fromId);
    this.first = Math.max(0, Math.min(at === -1 ? Infinity : at - 5, messages.length - WINDOW));
    const items = messages.slice(this.first).map((m) => this.item(m));
    if (!items.length) items.push(el("li", "messages-empty", "No messages yet. Say hello below."));
    this.earlier = el("li", "earlier");
    this.earlierButton = button("link-button", null, () => this.showEarlier());
    this.earlier.append(this.earlierButton);
    this.messages.replaceChildren(this.earlier, ...items);
    this.renderEarlier();
  }

  item(message) {
    this.keys.set(message.id, messageKey(message));
    return messageItem(message, this.thread.prospect);
  }

  renderEarlier() {
    this.earlier.hidden = this.first === 0;
    this.earlierButton.textContent = `Show ${this.first} earlier message${this.first === 1 ? "" : "s"}`;
    if (this.first > 0) this.observeEarlier();
  }

  observeEarlier() {
    this.observer?.disconnect();
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && this.first > 0) this.showEarlier();
    }, { root: this.messages });
    this.observer.observe(this.earlier);
  }

  showEarlier(upTo = null) {
    const list = this.messages;
    const from = upTo === null ? Math.max(0, this.first - BATCH) : upTo;
    if (from >= this.first) return;
    const items = this.thread.messages.slice(from, this.first).map((m) => this.item(m));
    const height = list.scrollHeight;
    this.earlier.after(...items);
    list.scrollTop += list.scrollHeight - height; // keep the view still
    this.first = from;
    this.renderEarlier();
  }

  /** Only new and changed messages touch the page. */
  merge(thread, flagStamp = this.flagStamp) {
    if (flagStamp !== this.flagStamp) thread.conversation.flagged = this.thread.conversation.flagged;
    this.thread.conversation = thread.conversation;
    this.thread.prospect = thread.prospect;
    this.composer.thread = this.thread;
    this.mergeMessages(thread.messages);
    this.renderFlag();
    this.renderAssignee();
    this.announce(thread.conversation);
    // A reply arriving in the thread on screen has been seen.
    if (thread.conversation.unread && document.visibilityState === "visible") {
      this.markRead(this.generation);
    }
  }

  mergeMessages(incoming) {
    const list = this.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
    const firstShown = this.thread.messages[this.first];
    const byId = new Map(this.thread.messages.map((m) => [m.id, m]));
    let added = false;
    for (const message of incoming) {
      const key = messageKey(message);
      if (!byId.has(message.id)) {
        added = true;
      } else if (this.keys.has(message.id) && this.keys.get(message.id) !== key) {
        list.querySelector(`li[data-id="${message.id}"]`)?.replaceWith(this.item(message));
      }
      byId.set(message.id, message);
    }
    const messages = [...byId.values()].sort(
      (a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id,
    );
    this.thread.messages = messages;
    if (!added) return;
    list.querySelector(".messages-empty")?.remove();
    // Older than the first drawn stays behind "Show earlier"; the rest go in time order.
    this.first = firstShown ? messages.indexOf(firstShown) : 0;
    messages.forEach((message, index) => {
      if (index < this.first || this.keys.has(message.id)) return;
      const next = messages.slice(index + 1).find((m) => this.keys.has(m.id));
      const before = next ? list.querySelector(`li[data-id="${next.id}"]`) : null;
      list.insertBefore(this.item(message), before);
    });
    this.renderEarlier();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  sent(message) {
    this.mergeMessages([message]);
    this.messages.scrollTop = this.messages.scrollHeight;
    this.refresh();
  }

  highlight(messageId) {
    const index = this.thread.messages.findIndex((m) => m.id === messageId);
    if (index !== -1 && index < this.first) this.showEarlier(Math.max(0, index - 5));
    const item = this.messages.querySelector(`li[data-id="${messageId}"]`);
    if (!item) return;
    for (const old of this.messages.querySelectorAll(".message.highlighted")) {
      old.classList.remove("highlighted");
    }
    item.classList.add("highlighted");
    item.scrollIntoView({ block: "center" });
    item.focus({ preventScroll: true });
  }

  async toggleFlag() {
    const id = this.thread.conversation.id;
    const flagged = !this.thread.conversation.flagged;
    this.flagButton.disabled = true;
    try {
      const summary = flagged
        ? await put(`/api/conversations/${id}/flag`)
        : await del(`/api/conversations/${id}/flag`);
      if (this.conversationId !== id) return;
      this.thread.conversation = summary;
      this.flagStamp += 1;
      this.renderFlag();
      this.announce(summary);
    } catch {
    } finally {
      this.flagButton.disabled = false;
    }
  }

  setPresence(frame) {
    const key = `${frame.account_id}:${frame.tab}`;
    if (frame.conversation_id === null) this.presence.delete(key);
    else this.presence.set(key, frame);
    this.renderPresence();
  }

  renderPresence() {
    if (!this.presenceLine) return;
    const here = [...this.presence.values()].filter((p) => p.conversation_id === this.conversationId);
    const typing = [...new Set(here.filter((p) => p.composing).map((p) => p.name))];
    const viewing = [...new Set(here.map((p) => p.name))].filter((n) => !typing.includes(n));
    const parts = [];
    if (typing.length) parts.push(`${typing.join(", ")} ${typing.length > 1 ? "are" : "is"} typing…`);
    if (viewing.length) parts.push(`${viewing.join(", ")} ${viewing.length > 1 ? "are" : "is"} viewing`);
    this.presenceLine.textContent = parts.join(" · ");
    this.presenceLine.hidden = parts.length === 0;
  }

  close() {
    emit(this, "thread-closed");
  }

  focusHeading() {
    this.querySelector("#thread-heading")?.focus();
  }

  focusComposer() {
    if (this.getAttribute("aria-busy") === "true") this.composerFocusWanted = true;
    else this.composer?.focusBody();
  }
}

customElements.define("conversation-thread", ConversationThread);
