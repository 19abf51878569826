// <conversation-thread>: one prospect's messages (email and SMS interleaved, oldest first), who
// else has it open, and the composer. Live events refresh it in place: new messages are
// appended, changed ones redrawn, nothing else touched. Announces changes to the conversation
// as a bubbling "conversation-updated" event.

import { ApiError, del, get, post, put } from "/static/api.js";
import { el } from "/static/dom.js";
import { formatPhone } from "/static/format.js";
import "/static/message-composer.js";
import { messageItem, messageKey } from "/static/message-item.js";

let people = null; // GET /api/accounts/assignable, asked once per page
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
    this.flagStamp = 0; // bumped on every flag change, so a stale refresh cannot undo one
  }

  connectedCallback() {
    if (!this.thread) this.showEmpty();
  }

  showEmpty(text = "Select a conversation to read it.") {
    this.thread = null;
    this.generation++;
    this.replaceChildren(el("p", "thread-empty", text));
    this.dispatchEvent(new CustomEvent("thread-opened", { detail: { thread: null }, bubbles: true }));
  }

  get conversationId() {
    return this.thread?.conversation.id ?? null;
  }

  /** Load and show a conversation (scrolled to `messageId` when given); marks it read. */
  async open(id, { messageId = null } = {}) {
    const generation = ++this.generation;
    this.setAttribute("aria-busy", "true");
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
    performance.mark("thread:fetched"); // the browser benchmark times the render from here
    this.removeAttribute("aria-busy");
    this.render(thread, messageId);
    if (messageId) this.highlight(messageId);
    if (this.composerFocusWanted) {
      // "r" pressed while this thread was still loading: honour it now.
      this.composerFocusWanted = false;
      this.composer?.focusBody();
    }
    this.dispatchEvent(new CustomEvent("thread-opened", { detail: { thread }, bubbles: true }));
    if (thread.conversation.unread) await this.markRead(generation);
  }

  /** Fetch the thread again and merge it in; calls while one runs collapse into one more. */
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
    this.dispatchEvent(new CustomEvent("conversation-updated", { detail: summary, bubbles: true }));
  }

  render(thread, messageId = null) {
    this.thread = thread;
    this.keys = new Map();
    const { prospect } = thread;
    const header = el("header", "thread-header");
    const back = el("button", "button quiet back-button", "← Back");
    back.type = "button";
    back.setAttribute("aria-label", "Back to conversations");
    back.addEventListener("click", () => this.close());
    const title = el("div", "thread-title");
    const heading = el("h2", null, prospect.name);
    heading.id = "thread-heading";
    heading.tabIndex = -1;
    const details = [prospect.product_of_interest, ...prospect.emails];
    for (const phone of prospect.phones) details.push(`${formatPhone(phone.e164)} ${phone.kind}`);
    title.append(heading, el("p", "thread-details", details.filter(Boolean).join(" · ")));
    this.flagButton = el("button", "button flag-button");
    this.flagButton.type = "button";
    this.flagButton.addEventListener("click", () => this.toggleFlag());
    const info = el("button", "button quiet details-button", "Details");
    info.type = "button";
    info.setAttribute("aria-controls", "prospect-panel");
    info.addEventListener("click", () =>
      this.dispatchEvent(new CustomEvent("toggle-details", { bubbles: true })),
    );
    this.assignee = el("select", "assignee");
    this.assignee.setAttribute("aria-label", "Assigned to");
    this.assignee.addEventListener("change", () => this.assign());
    this.assigneeError = el("span", "field-error");
    this.assigneeError.id = "assignee-error";
    this.assignee.setAttribute("aria-describedby", this.assigneeError.id);
    header.append(back, title, this.assignee, this.assigneeError, info, this.flagButton);

    this.messages = el("ol", "messages");
    this.messages.setAttribute("aria-label", `Messages with ${prospect.name}`);
    this.messages.tabIndex = 0;
    this.presenceLine = el("p", "presence-line");
    this.presenceLine.setAttribute("aria-live", "polite");
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
    const list = await people;
    const id = this.thread?.conversation.assignee_id ?? null;
    const options = [el("option", null, "Unassigned")];
    options[0].value = "";
    for (const person of list) {
      const option = el("option", null, person.name);
      option.value = String(person.id);
      options.push(option);
    }
    if (select !== this.assignee) return; // another thread was drawn meanwhile
    if (select.options.length !== options.length) select.replaceChildren(...options);
    select.value = id === null ? "" : String(id);
  }

  /** The assignee as an event reports it (anyone may change it). */
  setAssignee(id) {
    if (!this.thread) return;
    this.thread.conversation.assignee_id = id;
    this.renderAssignee();
  }

  async assign() {
    const id = this.thread.conversation.id;
    const value = this.assignee.value;
    this.assigneeError.textContent = "";
    try {
      const summary = await put(`/api/conversations/${id}/assignee`, { assignee_id: value ? Number(value) : null });
      if (this.conversationId !== id) return;
      this.thread.conversation = summary;
      this.announce(summary);
    } catch (exc) {
      this.assigneeError.textContent = exc.detail || "Could not assign.";
      this.renderAssignee();
    }
  }

  /** The flag as an event reports it (from this tab or another of mine). */
  setFlagged(flagged) {
    if (!this.thread) return;
    this.thread.conversation.flagged = flagged;
    this.flagStamp += 1;
    this.renderFlag();
  }

  renderFlag() {
    const flagged = this.thread.conversation.flagged;
    this.flagButton.setAttribute("aria-pressed", String(flagged));
    this.flagButton.textContent = flagged ? "Flagged" : "Flag";
    this.flagButton.classList.toggle("is-on", flagged);
  }

  /**
   * Draw the newest messages only (or from `fromId` on): a long thread opens as fast as a
   * short one, and older messages are drawn when asked for or scrolled to.
   */
  renderMessages(messages, fromId = null) {
    this.observer?.disconnect();
    const at = fromId === null ? -1 : messages.findIndex((m) => m.id === fromId);
    this.first = Math.max(0, Math.min(at === -1 ? Infinity : at - 5, messages.length - WINDOW));
    const items = messages.slice(this.first).map((m) => this.item(m));
    if (!items.length) items.push(el("li", "messages-empty", "No messages yet. Say hello below."));
    this.earlier = el("li", "earlier");
    this.earlierButton = el("button", "link-button");
    this.earlierButton.type = "button";
    this.earlierButton.addEventListener("click", () => this.showEarlier());
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

  // Scrolling up to the top draws the next older batch, as chat apps do.
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
    list.scrollTop += list.scrollHeight - height; // keep what was on screen where it was
    this.first = from;
    this.renderEarlier();
  }

  /** Fold a fresh copy of the thread in: only new and changed messages touch the page. */
  merge(thread, flagStamp = this.flagStamp) {
    // A flag set while this copy was on its way is newer than the copy.
    if (flagStamp !== this.flagStamp) thread.conversation.flagged = this.thread.conversation.flagged;
    this.thread.conversation = thread.conversation;
    this.thread.prospect = thread.prospect;
    this.composer.thread = this.thread;
    this.mergeMessages(thread.messages);
    this.renderFlag();
    this.renderAssignee();
    this.announce(thread.conversation);
    // A reply that arrives in the thread on screen has been seen.
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
    // Messages older than the first one drawn stay behind "Show earlier"; the rest are drawn
    // in time order, each before the first drawn message that is newer.
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
      // The button stays as it was; the state on screen is still the truth.
    } finally {
      this.flagButton.disabled = false;
    }
  }

  /** Someone else's tab: what it has open and whether they are typing. */
  setPresence(frame) {
    const key = `${frame.account_id}:${frame.tab}`;
    if (frame.conversation_id === null) this.presence.delete(key);
    else this.presence.set(key, frame);
    this.renderPresence();
  }

  renderPresence() {
    if (!this.presenceLine) return;
    const here = [...this.presence.values()].filter(
      (p) => p.conversation_id === this.conversationId,
    );
    const typing = [...new Set(here.filter((p) => p.composing).map((p) => p.name))];
    const viewing = [...new Set(here.map((p) => p.name))].filter((n) => !typing.includes(n));
    const parts = [];
    if (typing.length) parts.push(`${typing.join(", ")} ${typing.length > 1 ? "are" : "is"} typing…`);
    if (viewing.length) parts.push(`${viewing.join(", ")} ${viewing.length > 1 ? "are" : "is"} viewing`);
    this.presenceLine.textContent = parts.join(" · ");
    this.presenceLine.hidden = parts.length === 0;
  }

  close() {
    this.dispatchEvent(new CustomEvent("thread-closed", { bubbles: true }));
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
