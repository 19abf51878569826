// One message in a thread: author, channel, body, quoted text, images, attachments, delivery.

import { button, el, hiddenText } from "/static/dom.js";
import { CHANNEL_LABELS, fullTime } from "/static/format.js";
import { safeFragment } from "/static/safe-html.js";

export const STATUS_LABELS = {
  received: "Received", queued: "Queued", sending: "Sending…", sent: "Sent",
  delivered: "Delivered", failed: "Not delivered", bounced: "Bounced",
};
const OUTCOME_LABELS = { sent: "accepted", deferred: "delayed, retrying", failed: "refused" };
const KIND_LABELS = { to: "To", cc: "Cc", bcc: "Bcc" };

function sizeLabel(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function body(message, full) {
  const html = full ? message.body_html_full || message.body_html : message.body_html;
  const text = full ? message.body_text_full || message.body_text : message.body_text;
  const box = el("div", "message-body");
  if (message.channel === "email" && html) {
    const { fragment, remoteImages } = safeFragment(html);
    box.classList.add("rich");
    box.append(fragment);
    box.dataset.remoteImages = String(remoteImages);
  } else {
    box.textContent = text;
  }
  return box;
}

function hasQuote(message) {
  return Boolean(
    (message.body_text_full && message.body_text_full !== message.body_text) ||
      (message.body_html_full && message.body_html_full !== message.body_html),
  );
}

function authorLine(message, prospect) {
  const meta = el("p", "message-meta");
  const inbound = message.direction === "inbound";
  const who = message.author_name || message.author_address || (inbound ? "Unknown sender" : "You");
  meta.append(hiddenText(inbound ? "From " : "Sent by "));
  const author = el("span", "message-author", who);
  if (message.author_address && message.author_name) author.title = message.author_address;
  meta.append(author);
  const address = (message.author_address || "").toLowerCase();
  if (inbound && message.channel === "email" && address && prospect &&
      !prospect.emails.some((e) => e.toLowerCase() === address)) {
    meta.append(el("span", "tag participant", "CC participant"));
  }
  const direction = el("span", `direction ${message.direction}`, inbound ? "↙ in" : "↗ out");
  direction.ariaHidden = "true";
  meta.append(el("span", `tag channel-${message.channel}`, CHANNEL_LABELS[message.channel]), direction);
  if (message.is_automatic) meta.append(el("span", "tag", "Automatic"));
  meta.append(el("time", "message-time", fullTime(message.created_at), { dateTime: message.created_at }));
  return meta;
}

function addressLine(message) {
  if (message.channel !== "email") return null;
  const parts = [];
  // An inbound email's To is our reply address with its token: noise to the reader.
  if (message.to?.length && message.direction === "outbound") parts.push(`To: ${message.to.join(", ")}`);
  if (message.cc?.length) parts.push(`Cc: ${message.cc.join(", ")}`);
  if (message.bcc?.length) parts.push(`Bcc: ${message.bcc.join(", ")}`);
  return parts.length ? el("p", "message-addresses", parts.join(" · ")) : null;
}

function attachmentList(message) {
  if (!message.attachments?.length) return null;
  const list = el("ul", "attachments");
  list.ariaLabel = "Attachments";
  for (const file of message.attachments) {
    const a = el("a", "attachment", file.filename || "attachment", { href: `/api/attachments/${file.id}` });
    a.append(el("span", "attachment-size", ` ${sizeLabel(file.size)}`));
    const li = el("li");
    li.append(a);
    list.append(li);
  }
  return list;
}

function delivery(message) {
  if (message.direction !== "outbound") return null;
  const box = el("div", `message-status status-${message.status}`);
  const line = el("p", null, STATUS_LABELS[message.status] || message.status);
  if (message.error) line.append(el("span", "message-error", ` — ${message.error}`));
  box.append(line);
  const outcomes = message.recipient_outcomes || [];
  const notable = outcomes.filter((o) => o.status !== "sent");
  if (outcomes.length > 1 || notable.length) {
    const list = el("ul", "outcomes");
    list.ariaLabel = "Delivery per recipient";
    for (const o of outcomes) {
      const li = el("li", `outcome outcome-${o.status}`);
      li.textContent = `${KIND_LABELS[o.kind] || o.kind} ${o.address}: ${OUTCOME_LABELS[o.status] || o.status}`;
      if (o.detail && o.status !== "sent") li.append(el("span", "outcome-detail", ` (${o.detail})`));
      list.append(li);
    }
    box.append(list);
  }
  return box;
}

function loadImages(li) {
  for (const img of li.querySelectorAll(".message-body img[data-src]")) {
    img.src = img.dataset.src;
    img.removeAttribute("data-src");
  }
}

export function messageItem(message, prospect) {
  const li = el("li", `message ${message.direction} channel-${message.channel}`);
  li.dataset.id = String(message.id);
  li.id = `message-${message.id}`;
  li.tabIndex = -1;
  li.append(authorLine(message, prospect));
  const addresses = addressLine(message);
  if (addresses) li.append(addresses);
  if (message.channel === "email" && message.subject) {
    li.append(el("p", "message-subject", message.subject));
  }
  let current = body(message, false);
  li.append(current);
  const tools = el("div", "message-tools");
  if (hasQuote(message)) {
    const toggle = button("link-button", "Show quoted text", () => {
      const full = toggle.getAttribute("aria-expanded") !== "true";
      const next = body(message, full);
      current.replaceWith(next);
      current = next;
      toggle.ariaExpanded = String(full);
      toggle.textContent = full ? "Hide quoted text" : "Show quoted text";
      syncImages();
    });
    toggle.ariaExpanded = "false";
    tools.append(toggle);
  }
  const images = button("link-button", "Load images", () => {
    li.dataset.imagesLoaded = "true";
    loadImages(li);
    images.hidden = true;
  });
  const note = el("span", "images-note", "Remote images are blocked.");
  const syncImages = () => {
    if (li.dataset.imagesLoaded === "true") loadImages(li);
    const blocked = Number(current.dataset.remoteImages || 0) > 0;
    images.hidden = note.hidden = !blocked;
  };
  tools.append(note, images);
  syncImages();
  if (tools.querySelector("button:not([hidden])")) li.append(tools);
  const files = attachmentList(message);
  if (files) li.append(files);
  const status = delivery(message);
  if (status) li.append(status);
  return li;
}

/** Redrawn only when this changes. */
export function messageKey(message) {
  return [
    message.status,
    message.error,
    (message.recipient_outcomes || []).map((o) => `${o.address}:${o.status}`).join(","),
    message.attachments?.length || 0,
    message.body_text.length,
  ].join("|");
}
