// <message-composer>: an email or SMS to one prospect; server errors next to their fields.
// Events: "composer-sent" {message}, "composer-conflict" {messages}, "composing" {composing}.

import "/static/address-chips.js";
import { ApiError, fieldErrors, get, post } from "/static/api.js";
import { button, el, emit } from "/static/dom.js";
import { CONSENT } from "/static/format.js";
import { icon } from "/static/icons.js";
import { safeFragment } from "/static/safe-html.js";

const DEBOUNCE_MS = 300;
const COMPOSING_IDLE_MS = 5000;
const TOOLS = [
  ["bold", "B", "Bold"], ["italic", "I", "Italic"], ["underline", "U", "Underline"],
  ["strikeThrough", "S", "Strikethrough"], ["insertUnorderedList", "•", "Bulleted list"],
  ["insertOrderedList", "1.", "Numbered list"], ["createLink", null, "Link"],
];
const SIGNATURE_LABELS = {
  first_contact: "First-contact signature", reply: "Reply signature", "": "No signature",
};

function debounce(fn, ms) {
  let timer = null;
  const run = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}

function field(labelText, control, id) {
  const wrap = el("div", "field composer-field");
  const error = el("p", "field-error");
  error.id = `${id}-error`;
  error.ariaLive = "polite";
  wrap.append(el("label", null, labelText, { htmlFor: id }), control, error);
  return { wrap, error };
}

export class MessageComposer extends HTMLElement {
  constructor() {
    super();
    this.thread = null;
    this.composingTimer = null;
    this.composing = false;
    this.previewSoon = debounce(() => this.preview(), 600);
    this.segmentsSoon = debounce(() => this.countSegments(), DEBOUNCE_MS);
  }

  setThread(thread) {
    this.thread = thread;
    this.previewSoon.cancel();
    this.segmentsSoon.cancel();
    this.build();
    this.loadConsent();
    this.loadSnippets();
  }

  get conversationId() {
    return this.thread?.conversation.id;
  }

  get prospect() {
    return this.thread?.prospect;
  }

  build() {
    const prospect = this.prospect;
    const form = el("form", "composer", null, { noValidate: true, ariaLabel: `Write to ${prospect.name}` });
    this.form = form;
    this.errors = {};

    const top = el("div", "composer-top");
    const switcher = el("fieldset", "channel-switch");
    switcher.append(el("legend", "visually-hidden", "Send as"));
    const canEmail = prospect.emails.length > 0;
    const canText = prospect.phones.length > 0;
    const last = this.thread.conversation.last_channel;
    const preferred = last === "sms" && canText ? "sms" : canEmail ? "email" : "sms";
    for (const [value, label, allowed] of [["email", "Email", canEmail], ["sms", "SMS", canText]]) {
      const option = el("label", "channel-option");
      const input = el("input", null, null, {
        type: "radio", name: "channel", value, disabled: !allowed, checked: value === preferred,
      });
      input.addEventListener("change", () => this.sync());
      option.append(input, ` ${label}`);
      if (!allowed) option.title = value === "sms" ? "No phone number" : "No email address";
      switcher.append(option);
    }
    this.consent = el("span", "consent-dot consent-unknown", null, { tabIndex: 0, role: "img" });
    this.consent.ariaLabel = "SMS consent: checking";
    this.consentText = el("span", "consent-text", "");
    const consentBox = el("span", "consent");
    consentBox.append(this.consent, this.consentText);
    this.snippetPicker = this.buildSnippets();
    top.append(switcher, consentBox, this.snippetPicker);

    const datalist = el("datalist");
    datalist.id = `prospect-emails-${prospect.id}`;
    for (const address of prospect.emails) {
      const option = el("option");
      option.value = address;
      datalist.append(option);
    }
    const emailBox = el("div", "email-fields");
    const chips = {};
    for (const [kind, label] of [["to", "To"], ["cc", "Cc"], ["bcc", "Bcc"]]) {
      const control = document.createElement("address-chips");
      control.setAttribute("label", label);
      control.setAttribute("input-id", `composer-${kind}`);
      if (kind === "to") control.setAttribute("list", datalist.id);
      const { wrap, error } = field(label, control, `composer-${kind}`);
      wrap.classList.add(`address-field`, `field-${kind}`);
      this.errors[kind] = error;
      chips[kind] = control;
      emailBox.append(wrap);
    }
    this.chips = chips;
    const copies = button("link-button copies-toggle", "Cc/Bcc", () =>
      this.showCopies(copies.getAttribute("aria-expanded") !== "true"));
    copies.ariaExpanded = "false";
    this.copiesToggle = copies;
    emailBox.querySelector(".field-to").append(copies);
    const subject = el("input");
    subject.id = "composer-subject";
    subject.name = "subject";
    subject.maxLength = 998;
    const lastEmail = this.thread.messages.findLast((m) => m.channel === "email" && m.subject);
    subject.placeholder = lastEmail ? lastEmail.subject.replace(/^(re:\s*)+/i, "Re: ") : "Subject";
    subject.addEventListener("input", () => this.edited());
    const subjectField = field("Subject", subject, "composer-subject");
    subjectField.wrap.classList.add("subject-field");
    this.errors.subject = subjectField.error;
    emailBox.append(datalist, subjectField.wrap);
    this.subject = subject;
    this.emailBox = emailBox;

    this.toolbar = this.buildToolbar();
    this.editor = el("div", "editor");
    this.editor.id = "composer-editor";
    this.editor.contentEditable = "true";
    this.editor.role = "textbox";
    this.editor.ariaMultiLine = "true";
    this.editor.ariaLabel = "Message";
    this.editor.dataset.placeholder = `Write to ${prospect.first_name || prospect.name}…`;
    this.editor.addEventListener("input", () => this.edited());
    this.editor.addEventListener("keydown", (event) => this.editorKey(event));
    this.textarea = el("textarea", "sms-body", null, {
      id: "composer-sms", rows: 3, ariaLabel: "Text message",
      placeholder: `Text ${prospect.first_name || prospect.name}…`,
    });
    this.textarea.addEventListener("input", () => this.edited());
    this.textarea.addEventListener("keydown", (event) => this.editorKey(event));
    this.errors.body = el("p", "field-error", null, { ariaLive: "polite" });

    this.files = el("input", null, null, { type: "file", multiple: true });
    this.files.id = "composer-files";
    this.files.className = "visually-hidden";
    this.files.addEventListener("change", () => this.showFiles());
    const attach = el("label", "button quiet attach-button", "Attach files", { htmlFor: "composer-files" });
    this.fileList = el("ul", "file-list");
    this.errors.attachments = el("p", "field-error");
    this.attachRow = el("div", "attach-row");
    this.attachRow.append(this.files, attach);

    this.signature = el("details", "signature-preview");
    this.signatureBody = el("div", "signature-body rich");
    this.signature.append(el("summary", null, "Signature"), this.signatureBody);
    this.signature.addEventListener("toggle", () => this.signature.open && this.preview());

    const actions = el("div", "composer-actions");
    this.notice = el("p", "form-error composer-notice", null, { role: "alert" });
    this.hint = el("span", "composer-hint", null, { ariaLive: "polite" });
    this.sendButton = el("button", "button primary", "Send", { type: "submit" });
    actions.append(this.attachRow, this.signature, this.hint, this.sendButton);

    form.append(top, emailBox, this.toolbar, this.editor, this.textarea, this.errors.body,
      this.fileList, this.errors.attachments, this.notice, actions);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.replaceChildren(form);
    if (prospect.emails.length) chips.to.value = [prospect.emails[0]];
    for (const kind of ["cc", "bcc"]) emailBox.querySelector(`.field-${kind}`).hidden = true;
    this.sync();
  }

  showCopies(open) {
    this.copiesToggle.ariaExpanded = String(open);
    for (const kind of ["cc", "bcc"]) {
      this.emailBox.querySelector(`.field-${kind}`).hidden = !open;
    }
    if (open) this.chips.cc.input.focus();
  }

  buildToolbar() {
    const bar = el("div", "toolbar", null, { role: "toolbar", ariaLabel: "Formatting" });
    bar.setAttribute("aria-controls", "composer-editor");
    for (const [command, text, label] of TOOLS) {
      const button = el("button", `tool tool-${command}`, text ?? undefined);
      if (text === null) button.append(icon("link"));
      button.type = "button";
      button.ariaLabel = label;
      button.title = label;
      // Keep the selection in the editor while clicking.
      button.addEventListener("mousedown", (event) => event.preventDefault());
      button.addEventListener("click", () => this.format(command));
      bar.append(button);
    }
    return bar;
  }

  format(command) {
    this.editor.focus();
    if (command === "createLink") {
      const url = window.prompt("Link address (https://…)", "https://");
      if (!url || !/^(https?:\/\/|mailto:)/i.test(url.trim())) return;
      document.execCommand("createLink", false, url.trim());
    } else {
      document.execCommand(command, false, null);
    }
    this.edited();
  }

  buildSnippets() {
    const box = el("div", "snippets");
    const select = el("select", "snippet-select");
    select.id = "composer-snippet";
    select.ariaLabel = "Insert a snippet";
    select.append(new Option("Snippets…", ""));
    select.addEventListener("change", () => this.previewSnippet(select.value));
    this.snippetSelect = select;
    this.snippetPreview = el("div", "snippet-preview", null, { hidden: true });
    box.append(select, this.snippetPreview);
    return box;
  }

  async loadSnippets() {
    const conversation = this.conversationId;
    const snippets = await get("/api/snippets").catch(() => null);
    if (!snippets) {
      this.snippetPicker.hidden = true;
      return;
    }
    if (conversation !== this.conversationId) return;
    const items = Array.isArray(snippets) ? snippets : snippets.items || [];
    for (const snippet of items) this.snippetSelect.append(new Option(snippet.title, String(snippet.id)));
    this.snippetPicker.hidden = items.length === 0;
  }

  async previewSnippet(id) {
    if (!id) {
      this.snippetPreview.hidden = true;
      return;
    }
    let rendered;
    try {
      rendered = await post(`/api/snippets/${id}/render`, { prospect_id: this.prospect.id });
    } catch (exc) {
      this.notice.textContent = exc instanceof ApiError ? exc.detail : "Could not load the snippet.";
      return;
    }
    const preview = this.snippetPreview;
    const text = el("p", "snippet-text", rendered.text);
    const actions = el("div", "snippet-actions");
    const insert = button("button small primary", "Insert", () => this.insertSnippet(rendered));
    const cancel = button("button small quiet", "Cancel", () => {
      preview.hidden = true;
      this.snippetSelect.value = "";
      this.snippetSelect.focus();
    });
    actions.append(insert, cancel);
    preview.replaceChildren(el("p", "snippet-label", "Preview with this prospect's details"), text);
    if (rendered.empty_fields.length) {
      preview.append(el("p", "snippet-warning", `Empty: ${rendered.empty_fields.join(", ")}`));
    }
    preview.append(actions);
    preview.hidden = false;
    insert.focus();
  }

  insertSnippet(rendered) {
    if (this.channel === "sms") {
      const area = this.textarea;
      const at = area.selectionStart ?? area.value.length;
      area.value = area.value.slice(0, at) + rendered.text + area.value.slice(area.selectionEnd ?? at);
      area.focus();
    } else {
      this.editor.focus();
      const { fragment } = safeFragment(rendered.html);
      const selection = window.getSelection();
      if (selection.rangeCount && this.editor.contains(selection.anchorNode)) {
        const range = selection.getRangeAt(0);
        range.deleteContents();
        range.insertNode(fragment);
        range.collapse(false);
      } else {
        this.editor.append(fragment);
      }
    }
    this.snippetPreview.hidden = true;
    this.snippetSelect.value = "";
    this.edited();
  }

  async loadConsent() {
    const prospectId = this.prospect.id;
    const status = await get(`/api/prospects/${prospectId}/sms`).catch(() => null);
    if (!status) return;
    if (!this.prospect || this.prospect.id !== prospectId) return;
    this.showConsent(status);
  }

  showConsent(status) {
    this.sms = status;
    const colour = status.status;
    this.consent.className = `consent-dot consent-${colour}`;
    const meaning = `${CONSENT[colour] || colour}: ${status.reason}`;
    this.consent.title = meaning;
    this.consent.ariaLabel = `SMS consent ${colour}. ${meaning}`;
    this.consentText.textContent = CONSENT[colour] || colour;
    this.sync();
  }

  get channel() {
    return this.form?.elements.channel.value || "";
  }

  sync() {
    const sms = this.channel === "sms";
    this.emailBox.hidden = sms;
    this.toolbar.hidden = sms;
    this.editor.hidden = sms;
    this.attachRow.hidden = sms;
    this.signature.hidden = sms;
    this.textarea.hidden = !sms;
    this.consent.parentElement.hidden = !sms;
    if (sms && !this.textarea.value && this.editor.innerText.trim()) {
      this.textarea.value = this.editor.innerText.trim();
    }
    if (sms) this.segmentsSoon();
    else this.hint.textContent = "";
    const red = sms && this.sms?.status === "red";
    this.hint.classList.toggle("hint-warning", red);
    if (sms && this.sms && this.sms.status !== "green") {
      this.notice.textContent = `This prospect cannot be texted: ${this.sms.reason}`;
    } else if (this.notice.dataset.kind !== "conflict") {
      this.notice.textContent = "";
    }
  }

  editorKey(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.form.requestSubmit();
    }
  }

  edited() {
    if (this.channel === "sms") this.segmentsSoon();
    else if (this.signature.open) this.previewSoon();
    this.setComposing(true);
    clearTimeout(this.composingTimer);
    this.composingTimer = setTimeout(() => this.setComposing(false), COMPOSING_IDLE_MS);
  }

  setComposing(composing) {
    if (composing === this.composing) return;
    this.composing = composing;
    emit(this, "composing", { composing });
  }

  async countSegments() {
    const body = this.textarea.value;
    if (!body) {
      this.hint.textContent = "";
      return;
    }
    try {
      const s = await post("/api/sms/segments", { body });
      if (this.textarea.value !== body) return;
      const parts = s.segments === 1 ? "1 segment" : `${s.segments} segments`;
      this.hint.textContent = `${s.encoding} · ${s.characters} characters · ${parts} · ${s.remaining} left`;
    } catch {
      this.hint.textContent = "";
    }
  }

  bodyHtml() {
    return this.editor.innerHTML.trim();
  }

  async preview() {
    const conversation = this.conversationId;
    try {
      const result = await post(`/api/conversations/${conversation}/email-preview`, {
        subject: this.subject.value.trim(),
        body_html: this.bodyHtml() || "<p></p>",
      });
      if (conversation !== this.conversationId) return;
      this.signature.querySelector("summary").textContent =
        SIGNATURE_LABELS[result.signature_kind] || "Signature";
      const { fragment } = safeFragment(result.html);
      this.signatureBody.replaceChildren(fragment);
    } catch {
      this.signatureBody.textContent = "No preview available.";
    }
  }

  showFiles() {
    const items = [...this.files.files].map((file) => el("li", "file-chip", file.name));
    this.fileList.replaceChildren(...items);
    this.errors.attachments.textContent = "";
  }

  clearErrors() {
    for (const error of Object.values(this.errors)) error.textContent = "";
    for (const chips of Object.values(this.chips)) chips.clearErrors();
    this.notice.textContent = "";
    delete this.notice.dataset.kind;
  }

  showErrors(exc) {
    const fields = fieldErrors(exc);
    // A refusal of the whole send may name one field (`field` beside `detail`).
    if (!Object.keys(fields).length && exc instanceof ApiError && typeof exc.problem.field === "string") {
      fields[exc.problem.field] = exc.detail;
    }
    let placed = false;
    for (const [name, message] of Object.entries(fields)) {
      const match = /^(to|cc|bcc)(?:\[(\d+)\])?$/.exec(name);
      const key = match ? match[1] : name.startsWith("body") ? "body" : name;
      const target = this.errors[key];
      if (!target) continue;
      placed = true;
      if (!match) {
        target.textContent = message;
        continue;
      }
      const chips = this.chips[key];
      // The chip at the field's index, else each address the message names.
      const indexes = match[2] !== undefined
        ? [Number(match[2])]
        : chips.value.flatMap((a, i) => (message.toLowerCase().includes(a.toLowerCase()) ? [i] : []));
      const named = indexes.map((i) => chips.value[i]).filter(Boolean);
      const prefix = named.length && !message.toLowerCase().includes(named[0].toLowerCase()) ? `${named[0]}: ` : "";
      target.textContent = prefix + message;
      for (const index of indexes) chips.markError(index);
      if (key !== "to") this.emailBox.querySelector(`.field-${key}`).hidden = false;
    }
    if (!placed) this.notice.textContent = exc instanceof ApiError ? exc.detail : "Something went wrong.";
    const first = this.querySelector(".field-error:not(:empty)");
    first?.closest(".field")?.querySelector("input")?.focus();
  }

  payload() {
    const channel = this.channel;
    // 0 for an empty thread: anything someone else sent since counts as new.
    const seen = this.thread.messages.at(-1)?.id ?? 0;
    if (channel === "sms") {
      return { channel, body_text: this.textarea.value.trim(), seen_message_id: seen };
    }
    for (const chips of Object.values(this.chips)) chips.commit();
    const html = this.bodyHtml();
    return {
      channel,
      subject: this.subject.value.trim(),
      body_html: this.editor.innerText.trim() ? html : "",
      to: this.chips.to.value,
      cc: this.chips.cc.value,
      bcc: this.chips.bcc.value,
      seen_message_id: seen,
    };
  }

  async send() {
    this.clearErrors();
    const data = this.payload();
    if (!data.channel) {
      this.notice.textContent = "This prospect has no email address or phone number.";
      return;
    }
    if (!(data.body_text || data.body_html)) {
      this.errors.body.textContent = "Write a message first.";
      (data.channel === "sms" ? this.textarea : this.editor).focus();
      return;
    }
    const path = `/api/conversations/${this.conversationId}/messages`;
    const files = data.channel === "email" ? [...this.files.files] : [];
    this.sendButton.disabled = true;
    this.sendButton.textContent = "Sending…";
    let message;
    try {
      if (files.length) {
        const form = new FormData();
        form.append("message", JSON.stringify(data));
        for (const file of files) form.append("attachments", file, file.name);
        message = await post(`${path}/multipart`, form);
      } else {
        message = await post(path, data);
      }
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 409 && exc.problem.new_messages) {
        this.notice.dataset.kind = "conflict";
        this.notice.textContent = `${exc.detail} Read them, then send again.`;
        this.dispatchEvent(new CustomEvent("composer-conflict", {
          detail: { messages: exc.problem.new_messages }, bubbles: true,
        }));
      } else {
        this.showErrors(exc);
      }
      return;
    } finally {
      this.sendButton.disabled = false;
      this.sendButton.textContent = "Send";
    }
    this.reset();
    emit(this, "composer-sent", { message });
  }

  reset() {
    this.editor.replaceChildren();
    this.textarea.value = "";
    this.subject.value = "";
    this.files.value = "";
    this.fileList.replaceChildren();
    this.chips.cc.value = [];
    this.chips.bcc.value = [];
    this.showCopies(false);
    this.signature.open = false;
    this.hint.textContent = "";
    this.setComposing(false);
    clearTimeout(this.composingTimer);
  }

  focusBody() {
    (this.channel === "sms" ? this.textarea : this.editor).focus();
  }
}

customElements.define("message-composer", MessageComposer);
