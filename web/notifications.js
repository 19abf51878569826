// <notification-bell>: unread count and my notifications; toast(): a live notice with a link.

import { get, post } from "/static/api.js";
import { button, el } from "/static/dom.js";
import { shortTime } from "/static/format.js";
import { icon } from "/static/icons.js";

const TOAST_MS = 6000;

export function toast(title, body, href) {
  const region = document.getElementById("toasts");
  const item = el("div", "toast");
  item.role = "status";
  const link = el("a", "toast-title", title);
  if (href) link.href = href;
  item.append(link);
  if (body) item.append(el("p", "toast-body", body));
  const close = button("toast-close", "×", () => item.remove());
  close.ariaLabel = "Dismiss";
  item.append(close);
  region.append(item);
  let timer = setTimeout(() => item.remove(), TOAST_MS);
  // Reading it (hover or focus) keeps it up.
  item.addEventListener("mouseenter", () => clearTimeout(timer));
  item.addEventListener("focusin", () => clearTimeout(timer));
  item.addEventListener("mouseleave", () => {
    timer = setTimeout(() => item.remove(), TOAST_MS);
  });
}

export class NotificationBell extends HTMLElement {
  constructor() {
    super();
    this.unread = 0;
    this.items = [];
  }

  connectedCallback() {
    if (this.button) return;
    this.button = button("button quiet bell");
    this.button.ariaExpanded = "false";
    this.button.setAttribute("aria-controls", "notification-list");
    this.icon = icon("bell", "bell-icon");
    this.badge = el("span", "badge", null, { ariaHidden: "true" });
    this.label = el("span", "visually-hidden");
    this.button.append(this.icon, this.badge, this.label);
    this.button.addEventListener("click", () => this.toggle());
    this.panel = el("div", "notification-panel", null, { id: "notification-list", hidden: true });
    this.panel.role = "region";
    this.panel.ariaLabel = "Notifications";
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close(true);
    });
    this.append(this.button, this.panel);
    this.render();
  }

  async load() {
    try {
      const data = await get("/api/notifications");
      this.items = data.items;
      this.unread = data.unread_count;
    } catch {
      return;
    }
    this.render();
  }

  added(notification) {
    this.items = [notification, ...this.items.filter((n) => n.id !== notification.id)];
    if (!notification.read) this.unread++;
    this.render();
  }

  markedRead(id, unreadCount) {
    const item = this.items.find((n) => n.id === id);
    if (item) item.read = true;
    this.unread = unreadCount;
    this.render();
  }

  render() {
    this.badge.textContent = this.unread > 99 ? "99+" : String(this.unread);
    this.badge.hidden = this.unread === 0;
    this.label.textContent = `Notifications, ${this.unread} unread`;
    if (this.panel.hidden) return;
    const list = el("ul", "notifications");
    for (const n of this.items.slice(0, 30)) {
      const li = el("li", n.read ? "notification" : "notification unread");
      const a = el("a", null, n.title);
      a.href = n.conversation_id
        ? `#/all/${n.conversation_id}${n.message_id ? `?message=${n.message_id}` : ""}`
        : "#/dashboard";
      a.addEventListener("click", () => {
        if (!n.read) post(`/api/notifications/${n.id}/read`).catch(() => {});
        this.close(false);
      });
      li.append(a, el("p", "notification-body", n.body), el("time", "muted", shortTime(n.created_at)));
      list.append(li);
    }
    this.panel.replaceChildren(el("h2", "panel-title", "Notifications"));
    this.panel.append(this.items.length ? list : el("p", "muted", "Nothing yet."));
  }

  toggle() {
    if (this.panel.hidden) this.open();
    else this.close(true);
  }

  async open() {
    this.panel.hidden = false;
    this.button.ariaExpanded = "true";
    this.render();
    await this.load();
    this.panel.querySelector("a")?.focus();
  }

  close(returnFocus) {
    if (this.panel.hidden) return false;
    this.panel.hidden = true;
    this.button.ariaExpanded = "false";
    if (returnFocus) this.button.focus();
    return true;
  }
}

customElements.define("notification-bell", NotificationBell);
