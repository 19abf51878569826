// <conversation-thread>: the messages, who else has it open, the composer. Opens on the newest
// page; events apply in place. Announces changes as a bubbling "conversation-updated" event.

import { ApiError, del, get, post, put } from "/static/api.js";
import { button, el, emit } from "/static/dom.js";
import { formatPhone } from "/static/format.js";
import "/static/message-composer.js";
import { messageItem, messageKey } from "/static/message-item.js";

let people = null; // the assignee choices, fetched once
const NEAR_BOTTOM_PX = 80;

export class ConversationThread extends HTMLElement {
  constructor() {
    super();
    this.thread = null;
    this.generation = 0;
    this.keys = new Map();
    this.presence = new Map();
    this.early = null; // frames that arrive while a snapshot loads
  }

  connectedCallback() {
    if (!this.thread) this.showEmpty();
  }

  showEmpty(text = "Select a conversation to read it.") {
    this.thread = this.early = null;
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
    this.opening = id;
    this.early = [];
    let thread;
    try {
      thread = await get(`/api/conversations/${id}`);
    } catch (exc) {
      if (generation === this.generation) {
        this.early = null;
        this.removeAttribute("aria-busy");
        this.showEmpty(exc instanceof ApiError ? exc.detail : "Could not load this conversation.");
      }
      return;
    }
    if (generation !== this.generation) return;
    performance.mark("thread:fetched"); // bench/web.py times the render from here
    this.removeAttribute("aria-busy");
    this.render(thread);
    // Frames that came while it loaded: those above the snapshot's seq, once.
    const early = this.early;
    this.early = null;
    early.forEach((frame) => this.apply(frame));
    if (messageId) this.highlight(messageId);
    if (this.composerFocusWanted) {
      this.composerFocusWanted = false;
      this.composer?.focusBody();
    }
    emit(this, "thread-opened", { thread });
    if (thread.conversation.unread) await this.markRead(generation);
  }

  /** A message.* or conversation.* frame; nothing if it is not about this thread. */
  apply(frame) {
    const { data } = frame;
    if (this.early) {
      if (data.conversation_id === this.opening) this.early.push(frame);
      return;
    }
    if (data.conversation_id !== this.conversationId || frame.seq <= this.thread.seq) return;
    if (frame.type === "message.created") this.fetchNew();
    if (frame.type === "message.updated") {
      const message = this.thread.messages.find((m) => m.id === data.message_id);
      // Not loaded: an earlier page brings it as it is now.
      if (!message) return;
      this.updated.set(message.id, frame.seq);
      message.status = data.status;
      message.error = data.error;
      if (data.recipients) message.recipient_outcomes = data.recipients;
      this.mergeMessages([message]);
    }
    if (frame.type === "conversation.updated") {
      if ("flagged" in data) this.setFlagged(data.flagged);
      if ("assignee_id" in data) this.setAssignee(data.assignee_id);
    }
  }

  /** The messages after the newest one held; calls while one runs collapse into one more. */
  async fetchNew() {
    const generation = this.generation;
    if (this.fetching === generation) return void (this.again = true);
    this.fetching = generation;
    let added = false;
    try {
      do {
        this.again = false;
        const last = Math.max(0, ...this.thread.messages.map((m) => m.id));
        const page = await get(`/api/conversations/${this.conversationId}/messages${last ? `?after=${last}` : ""}`);
        if (generation !== this.generation) return;
        // A page read before an update already applied must not undo it.
        added = this.mergeMessages(page.items.filter((m) => !(this.updated.get(m.id) > page.seq))) || added;
        this.again ||= page.items.length === 100;
      } while (this.again);
    } catch {
      return;
    } finally {
      if (this.fetching === generation) this.fetching = null;
    }
    // A reply arriving in the thread on screen has been seen.
    if (added && document.visibilityState === "visible") this.markRead(generation);
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

  render(thread) {
    this.thread = thread;
    this.keys = new Map();
    this.updated = new Map(); // message id -> seq of the message.updated applied
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
    this.renderMessages(thread.messages);
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
    this.thread.conversation.flagged = flagged;
    this.renderFlag();
  }

  renderFlag() {
    const flagged = this.thread.conversation.flagged;
    this.flagButton.ariaPressed = String(flagged);
    this.flagButton.textContent = flagged ? "Flagged" : "Flag";
    this.flagButton.classList.toggle("is-on", flagged);
  }

  renderMessages(messages) {
    const items = messages.map((m) => this.item(m));
    if (!items.length) items.push(el("li", "messages-empty", "No messages yet. Say hello below."));
    this.earlier = el("li", "earlier");
    this.earlierButton = button("link-button", "Show earlier messages", () => this.showEarlier());
    this.earlier.append(this.earlierButton);
    this.messages.replaceChildren(this.earlier, ...items);
    this.earlier.hidden = !this.thread.earlier_cursor;
  }

  item(message) {
    this.keys.set(message.id, messageKey(message));
    return messageItem(message, this.thread.prospect);
  }

  /** Fetches the page before the oldest one held; true when it did. */
  async showEarlier() {
    const { thread, earlierButton } = this;
    if (!thread.earlier_cursor || earlierButton.disabled) return false;
    earlierButton.disabled = true;
    let page;
    try {
      page = await get(`/api/conversations/${thread.conversation.id}/messages?cursor=${thread.earlier_cursor}`);
    } catch {
      return false;
    } finally {
      earlierButton.disabled = false;
    }
    if (thread !== this.thread) return false;
    const list = this.messages;
    const height = list.scrollHeight;
    const older = page.items.filter((m) => !this.keys.has(m.id));
    this.earlier.after(...older.map((m) => this.item(m)));
    list.scrollTop += list.scrollHeight - height; // keep the view still
    thread.messages = [...older, ...thread.messages];
    thread.earlier_cursor = page.earlier_cursor;
    this.earlier.hidden = !page.earlier_cursor;
    return true;
  }

  mergeMessages(incoming) {
    const list = this.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
    const byId = new Map(this.thread.messages.map((m) => [m.id, m]));
    let added = false;
    for (const message of incoming) {
      if (!byId.has(message.id)) added = true;
      else if (this.keys.get(message.id) !== messageKey(message)) {
        list.querySelector(`li[data-id="${message.id}"]`)?.replaceWith(this.item(message));
      }
      byId.set(message.id, message);
    }
    const messages = [...byId.values()].sort(
      (a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id,
    );
    this.thread.messages = messages;
    if (!added) return false;
    list.querySelector(".messages-empty")?.remove();
    messages.forEach((message, index) => {
      if (this.keys.has(message.id)) return;
      const next = messages.slice(index + 1).find((m) => this.keys.has(m.id));
      list.insertBefore(this.item(message), next ? list.querySelector(`li[data-id="${next.id}"]`) : null);
    });
    if (atBottom) list.scrollTop = list.scrollHeight;
    return true;
  }

  sent(message) {
    this.mergeMessages([message]);
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  /** Pages back to the message if it is older than those held. */
  async highlight(messageId) {
    while (!this.keys.has(messageId) && (await this.showEarlier()));
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
