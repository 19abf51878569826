// <search-view>: the search grid; its filters live in the address, so Back and bookmarks work.

import { ApiError, get } from "/static/api.js";
import { button, el, grid } from "/static/dom.js";
import { CHANNEL_LABELS, fullTime } from "/static/format.js";
import { highlighted } from "/static/safe-html.js";

const FIELDS = [
  ["q", "Keywords", "search", 'words, "exact phrase", -exclude'], ["date_from", "From", "date"],
  ["date_to", "To", "date"], ["first_name", "First name", "text"],
  ["last_name", "Last name", "text"], ["email", "Email", "text"],
  ["mobile_phone", "Mobile phone", "tel"], ["home_phone", "Home phone", "tel"],
  ["work_phone", "Work phone", "tel"],
];
const SELECTS = [
  ["channel", "Type", [["", "Any"], ["email", "Email"], ["sms", "SMS"]]],
  ["direction", "Direction", [["", "Any"], ["inbound", "Received"], ["outbound", "Sent"]]],
];

export class SearchView extends HTMLElement {
  connectedCallback() {
    if (this.form) return;
    const heading = el("h1", "pane-title", "Messages", { id: "search-title" });
    this.setAttribute("aria-labelledby", "search-title");
    const form = el("form", "search-form", null, { role: "search", noValidate: true });
    for (const [name, label, type, placeholder] of FIELDS) {
      const wrap = el("div", `field search-${name}`);
      const input = el("input", null, null, { id: `search-${name}`, name, type });
      if (placeholder) input.placeholder = placeholder;
      wrap.append(el("label", null, label, { htmlFor: input.id }), input);
      form.append(wrap);
    }
    for (const [name, label, options] of SELECTS) {
      const wrap = el("div", "field");
      const select = el("select", null, null, { id: `search-${name}`, name });
      for (const [value, text] of options) select.append(new Option(text, value));
      wrap.append(el("label", null, label, { htmlFor: select.id }), select);
      form.append(wrap);
    }
    const actions = el("div", "search-actions");
    const submit = el("button", "button primary", "Search");
    submit.type = "submit";
    this.exportLink = el("a", "button", "Export CSV");
    this.exportLink.setAttribute("download", "messages.csv");
    actions.append(submit, this.exportLink);
    form.append(actions);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const params = this.params();
      window.location.hash = `#/search?${params}`;
    });
    this.form = form;
    this.status = el("p", "list-status");
    this.status.role = "status";
    const table = grid("search-grid", "Matching messages, newest first",
      ["Date", "Prospect", "Type", "Account", "Message"]);
    this.body = table.tBodies[0];
    this.table = table;
    this.more = button("button load-more", "Load more", () => this.fetch(false));
    this.more.hidden = true;
    const scroller = el("div", "grid-scroll");
    scroller.append(table, this.status, this.more);
    this.replaceChildren(heading, form, scroller);
  }

  params() {
    const params = new URLSearchParams();
    for (const element of this.form.elements) {
      if (!element.name || !element.value.trim()) continue;
      params.set(element.name, element.value.trim());
    }
    return params;
  }

  async show(query) {
    const params = new URLSearchParams(query);
    for (const element of this.form.elements) {
      if (element.name) element.value = params.get(element.name) || "";
    }
    this.query = this.apiParams(params);
    this.exportLink.href = `/api/search/export.csv?${this.query}`;
    this.cursor = null;
    this.body.replaceChildren();
    this.table.hidden = true;
    if ([...params.keys()].length === 0) {
      this.status.textContent = "Search every email and text by keyword, date, person or phone.";
      this.more.hidden = true;
      return;
    }
    await this.fetch(true);
  }

  apiParams(params) {
    const out = new URLSearchParams(params);
    // Local days to instants (to is exclusive).
    for (const [name, shift] of [["date_from", 0], ["date_to", 1]]) {
      const value = out.get(name);
      if (!value) continue;
      const day = new Date(`${value}T00:00`);
      day.setDate(day.getDate() + shift);
      out.set(name, day.toISOString());
    }
    out.set("limit", "50");
    return out;
  }

  async fetch(first) {
    const params = new URLSearchParams(this.query);
    if (!first && this.cursor) params.set("cursor", this.cursor);
    this.status.textContent = "Searching…";
    let page;
    try {
      page = await get(`/api/search?${params}`);
    } catch (exc) {
      this.status.textContent = exc instanceof ApiError ? exc.detail : "The search failed.";
      return;
    }
    for (const hit of page.items) this.body.append(this.row(hit));
    this.cursor = page.next_cursor;
    this.more.hidden = !this.cursor;
    this.table.hidden = this.body.childElementCount === 0;
    this.status.textContent = this.body.childElementCount ? "" : "No messages match.";
  }

  row(hit) {
    const tr = el("tr", `hit ${hit.direction}`);
    const date = el("td", "hit-date");
    date.append(el("time", null, fullTime(hit.date), { dateTime: hit.date }));
    const who = el("td", "hit-prospect", hit.prospect_name);
    const type = el("td", "hit-type", `${CHANNEL_LABELS[hit.channel]} ${hit.direction === "inbound" ? "received" : "sent"}`);
    const account = el("td", "hit-account", hit.account_name || "—");
    const message = el("td", "hit-message");
    const link = el("a", "hit-link");
    link.href = hit.link;
    if (hit.subject_html) {
      const subject = el("span", "hit-subject");
      subject.append(highlighted(hit.subject_html));
      link.append(subject);
    }
    const snippet = el("span", "hit-snippet");
    snippet.append(highlighted(hit.snippet_html));
    link.append(snippet);
    message.append(link);
    tr.append(date, who, type, account, message);
    return tr;
  }
}

customElements.define("search-view", SearchView);
