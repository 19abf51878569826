// <address-chips>: typed addresses become chips; Backspace removes the last.

import { button, el } from "/static/dom.js";

const LOOKS_LIKE_EMAIL = /^[^\s@,;]+@[^\s@,;]+$/;

export class AddressChips extends HTMLElement {
  constructor() {
    super();
    this.addresses = [];
    this.errors = new Map();
  }

  connectedCallback() {
    if (this.input) return;
    const label = this.getAttribute("label") || "Addresses";
    const id = this.getAttribute("input-id") || `chips-${Math.random().toString(36).slice(2)}`;
    this.classList.add("chips");
    this.list = el("ul", "chip-list", null, { ariaLabel: `${label} addresses` });
    this.input = el("input", "chip-input", null, { id, type: "email", autocomplete: "off" });
    this.input.setAttribute("aria-describedby", `${id}-error`);
    if (this.getAttribute("list")) this.input.setAttribute("list", this.getAttribute("list"));
    this.input.addEventListener("keydown", (event) => this.key(event));
    this.input.addEventListener("blur", () => this.commit());
    this.input.addEventListener("paste", () => setTimeout(() => this.commit(), 0));
    this.addEventListener("click", (event) => {
      if (event.target === this) this.input.focus();
    });
    this.append(this.list, this.input);
    this.render();
  }

  key(event) {
    if (["Enter", ",", ";", " "].includes(event.key)) {
      if (this.input.value.trim()) {
        event.preventDefault();
        this.commit();
      } else if (event.key === "Enter") {
        event.preventDefault();
      }
    } else if (event.key === "Backspace" && !this.input.value && this.addresses.length) {
      this.remove(this.addresses.length - 1);
    }
  }

  commit() {
    const parts = this.input.value.split(/[\s,;]+/).filter(Boolean);
    const bad = parts.filter((p) => !LOOKS_LIKE_EMAIL.test(p));
    const before = this.addresses.length;
    for (const part of parts) {
      if (LOOKS_LIKE_EMAIL.test(part) && !this.addresses.includes(part)) this.addresses.push(part);
    }
    this.input.value = bad.join(" ");
    if (this.addresses.length !== before) {
      this.render();
      this.dispatchEvent(new Event("change", { bubbles: true }));
    }
    return bad.length === 0;
  }

  remove(index) {
    this.addresses.splice(index, 1);
    this.errors.clear();
    this.render();
    this.input.focus();
    this.dispatchEvent(new Event("change", { bubbles: true }));
  }

  get value() {
    return [...this.addresses];
  }

  set value(addresses) {
    this.addresses = [...addresses];
    this.errors.clear();
    if (this.input) {
      this.input.value = "";
      this.render();
    }
  }

  markError(index) {
    this.errors.set(index, true);
    this.render();
  }

  clearErrors() {
    if (!this.errors.size) return;
    this.errors.clear();
    this.render();
  }

  render() {
    const items = this.addresses.map((address, index) => {
      const li = el("li", "chip");
      if (this.errors.has(index)) {
        li.classList.add("chip-error");
        li.ariaInvalid = "true";
      }
      li.append(el("span", "chip-text", address));
      const remove = button("chip-remove", "×");
      remove.ariaLabel = `Remove ${address}`;
      // No blur first: it would redraw the chips under the pointer.
      remove.addEventListener("mousedown", (event) => event.preventDefault());
      remove.addEventListener("click", () => this.remove(index));
      li.append(remove);
      return li;
    });
    this.list.replaceChildren(...items);
    this.list.hidden = items.length === 0;
  }
}

customElements.define("address-chips", AddressChips);
