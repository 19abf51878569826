// <conversation-thread>: one prospect's messages, oldest first, with a flag toggle and a composer.
// It announces changes to a conversation as a bubbling "conversation-updated" event.

import { ApiError, del, get, post, put } from "/static/api.js";
import { el, hiddenText } from "/static/dom.js";
import { CHANNEL_LABELS, formatPhone, fullTime } from "/static/format.js";

const STATUS_LABELS = {
  queued: "Queued",
  sending: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  failed: "Not delivered",
  bounced: "Bounced",
};
const PENDING = new Set(["queued", "sending"]);
const REFRESH_MS = 1500;
const MAX_REFRESHES = 5;

function messageItem(message) {
  const li = el("li", `message ${message.direction}`);
  li.dataset.id = String(message.id);
  const meta = el("p", "message-meta");
  const who = message.author_name || message.author_address || "Unknown sender";
  meta.append(hiddenText(message.direction === "inbound" ? "From " : "Sent by "));
  meta.append(el("span", "message-author", who));
  meta.append(el("span", `tag channel-${message.channel}`, CHANNEL_LABELS[message.channel]));
  const time = el("time", "message-time", fullTime(message.created_at));
  time.dateTime = message.created_at;
  meta.append(time);
  li.append(meta);
  if (message.channel === "email" && message.subject) {
    li.append(el("p", "message-subject", message.subject));
  }
  li.append(el("div", "message-body", message.body_text));
  if (message.direction === "outbound") {
    const status = el("p", `message-status status-${message.status}`, STATUS_LABELS[message.status]);
    if (message.error) status.append(el("span", "message-error", ` — ${message.error}`));
    li.append(status);
  }
  return li;
}

export class ConversationThread extends HTMLElement {
  constructor() {
    super();
    this.thread = null;
    this.generation = 0;
    this.refreshTimer = null;
    this.refreshes = 0;
  }

  connectedCallback() {
    this.showEmpty();
  }

  showEmpty(text = "Select a conversation to read it.") {
    this.clearRefresh();
    this.thread = null;
    this.generation++;
    this.replaceChildren(el("p", "thread-empty", text));
  }

  /** Load and show a conversation; marks it read. */
  async open(id) {
    this.clearRefresh();
    this.refreshes = 0;
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
    this.removeAttribute("aria-busy");
    this.render(thread);
    if (thread.conversation.unread) await this.markRead(generation);
  }

  async refresh() {
    if (!this.thread) return;
    const generation = this.generation;
    const thread = await get(`/api/conversations/${this.thread.conversation.id}`);
    if (generation !== this.generation) return;
    this.renderMessages(thread);
    this.thread = thread;
    this.renderFlag();
    this.announce(thread.conversation);
    this.scheduleRefresh();
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

  render(thread) {
    this.thread = thread;
    const { prospect } = thread;
    const header = el("header", "thread-header");
    const back = el("button", "button quiet back-button", "← Back");
    back.type = "button";
    back.setAttribute("aria-label", "Back to conversations");
    back.addEventListener("click", () =>
      this.dispatchEvent(new CustomEvent("thread-closed", { bubbles: true })),
    );
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
    header.append(back, title, this.flagButton);

    this.messages = el("ol", "messages");
    this.messages.setAttribute("aria-label", `Messages with ${prospect.name}`);
    this.messages.tabIndex = 0;
    this.replaceChildren(header, this.messages, this.composer(thread));
    this.renderFlag();
    this.renderMessages(thread);
  }

  renderFlag() {
    const flagged = this.thread.conversation.flagged;
    this.flagButton.setAttribute("aria-pressed", String(flagged));
    this.flagButton.textContent = flagged ? "Flagged" : "Flag";
    this.flagButton.classList.toggle("is-on", flagged);
  }

  renderMessages(thread) {
    const items = thread.messages.map(messageItem);
    if (!items.length) items.push(el("li", "messages-empty", "No messages yet. Say hello below."));
    this.messages.replaceChildren(...items);
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  async toggleFlag() {
    const id = this.thread.conversation.id;
    const flagged = !this.thread.conversation.flagged;
    this.flagButton.disabled = true;
    try {
      const summary = flagged
        ? await put(`/api/conversations/${id}/flag`)
        : await del(`/api/conversations/${id}/flag`);
      if (!this.thread || this.thread.conversation.id !== id) return;
      this.thread.conversation = summary;
      this.renderFlag();
      this.announce(summary);
    } catch (exc) {
      this.showComposerError(exc);
    } finally {
      this.flagButton.disabled = false;
    }
  }

  composer(thread) {
    const { prospect, conversation } = thread;
    const canEmail = prospect.emails.length > 0;
    const canText = prospect.phones.some((p) => p.kind === "mobile");
    const form = el("form", "composer");
    form.setAttribute("aria-label", `Reply to ${prospect.name}`);
    form.noValidate = true;

    const switcher = el("fieldset", "channel-switch");
    switcher.append(el("legend", "visually-hidden", "Send as"));
    const preferred = conversation.last_channel === "sms" && canText ? "sms" : canEmail ? "email" : "sms";
    for (const [value, allowed] of [["email", canEmail], ["sms", canText]]) {
      const label = el("label", "channel-option");
      const input = el("input");
      input.type = "radio";
      input.name = "channel";
      input.value = value;
      input.disabled = !allowed;
      input.checked = value === preferred;
      input.addEventListener("change", () => this.syncComposer());
      label.append(input, ` ${CHANNEL_LABELS[value]}`);
      if (!allowed) label.title = value === "sms" ? "No mobile number to text" : "No email address";
      switcher.append(label);
    }

    const subjectField = el("div", "field subject-field");
    const subjectLabel = el("label", null, "Subject");
    subjectLabel.htmlFor = "composer-subject";
    const subject = el("input");
    subject.id = "composer-subject";
    subject.name = "subject";
    // An empty subject keeps the thread's; show which one that is.
    const lastEmail = thread.messages.findLast((m) => m.channel === "email" && m.subject);
    subject.placeholder = lastEmail ? lastEmail.subject.replace(/^(re:\s*)+/i, "") : "Subject";
    subject.maxLength = 998;
    subjectField.append(subjectLabel, subject);

    const bodyLabel = el("label", "visually-hidden", "Message");
    bodyLabel.htmlFor = "composer-body";
    const body = el("textarea");
    body.id = "composer-body";
    body.name = "body";
    body.rows = 2;
    body.placeholder = `Write to ${prospect.first_name || prospect.name}…`;
    body.addEventListener("input", () => this.syncComposer());
    body.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });

    const actions = el("div", "composer-actions");
    this.composerError = el("p", "form-error", "");
    this.composerError.setAttribute("role", "alert");
    this.composerHint = el("span", "composer-hint");
    this.composerHint.setAttribute("aria-live", "polite");
    const send = el("button", "button primary", "Send");
    send.type = "submit";
    actions.append(this.composerError, this.composerHint, send);

    form.append(switcher, subjectField, bodyLabel, body, actions);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(form);
    });
    this.form = form;
    this.syncComposer();
    return form;
  }

  syncComposer() {
    const form = this.form;
    if (!form) return;
    const channel = form.elements.channel.value;
    form.querySelector(".subject-field").hidden = channel !== "email";
    const length = form.elements.body.value.length;
    this.composerHint.textContent =
      channel === "sms" && length ? `${length} characters · ${Math.ceil(length / 160)} text(s)` : "";
  }

  showComposerError(exc) {
    if (this.composerError) {
      this.composerError.textContent = exc instanceof ApiError ? exc.detail : "Something went wrong.";
    }
  }

  async send(form) {
    const channel = form.elements.channel.value;
    const bodyText = form.elements.body.value.trim();
    this.composerError.textContent = "";
    if (!channel) {
      this.composerError.textContent = "This prospect has no email address or mobile number.";
      return;
    }
    if (!bodyText) {
      this.composerError.textContent = "Write a message first.";
      form.elements.body.focus();
      return;
    }
    const payload = { channel, body_text: bodyText };
    if (channel === "email") payload.subject = form.elements.subject.value.trim();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "Sending…";
    try {
      await post(`/api/conversations/${this.thread.conversation.id}/messages`, payload);
    } catch (exc) {
      this.showComposerError(exc);
      return;
    } finally {
      button.disabled = false;
      button.textContent = "Send";
    }
    form.elements.body.value = "";
    form.elements.subject.value = "";
    this.syncComposer();
    this.refreshes = 0;
    await this.refresh().catch(() => {});
  }

  // Until live updates arrive over the websocket, look again briefly while a send is pending.
  scheduleRefresh() {
    this.clearRefresh();
    const pending = this.thread?.messages.some((m) => PENDING.has(m.status));
    if (!pending || this.refreshes >= MAX_REFRESHES) return;
    this.refreshes++;
    this.refreshTimer = setTimeout(() => this.refresh().catch(() => {}), REFRESH_MS);
  }

  clearRefresh() {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  focusHeading() {
    this.querySelector("#thread-heading")?.focus();
  }
}

customElements.define("conversation-thread", ConversationThread);
