// Server-sanitized HTML cleaned again (defence in depth): parsed inert in a <template>, then
// every element and attribute off a short list dropped. (No iframe per message: see README.)

const ALLOWED = new Set(
  (
    "a abbr b blockquote br caption cite code col colgroup dd del div dl dt em figcaption " +
    "figure h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q s small span strike strong " +
    "sub sup table tbody td tfoot th thead tr u ul"
  ).split(" "),
);
// Dropped with their content; other unknown elements are unwrapped.
const DROP = new Set(["script", "style", "template", "iframe", "object", "embed", "svg", "math", "head", "title", "form"]);
const ATTRIBUTES = {
  a: ["href", "title"], img: ["src", "alt", "width", "height", "data-src"],
  td: ["colspan", "rowspan"], th: ["colspan", "rowspan"], ol: ["start"],
  "*": ["dir", "lang", "title"],
};
const SAFE_HREF = /^(https?:|mailto:|#)/i;
const SAFE_SRC = /^(\/api\/attachments\/\d+|data:image\/(png|jpe?g|gif|webp);)/i;
const REMOTE = /^https?:\/\//i;

function cleanAttributes(node) {
  const tag = node.localName;
  const keep = new Set([...(ATTRIBUTES[tag] || []), ...ATTRIBUTES["*"]]);
  for (const { name } of [...node.attributes]) {
    if (!keep.has(name)) node.removeAttribute(name);
  }
  if (tag === "a") {
    const href = node.getAttribute("href") || "";
    if (!SAFE_HREF.test(href.trim())) node.removeAttribute("href");
    node.setAttribute("rel", "noopener noreferrer nofollow");
    node.setAttribute("target", "_blank");
  }
  if (tag === "img") {
    const src = node.getAttribute("src") || "";
    if (REMOTE.test(src)) {
      // Held back until the reader asks ("load images").
      node.setAttribute("data-src", src);
      node.removeAttribute("src");
    } else if (src && !SAFE_SRC.test(src)) {
      node.removeAttribute("src");
    }
    const remote = node.getAttribute("data-src") || "";
    if (remote && !REMOTE.test(remote)) node.removeAttribute("data-src");
  }
}

function clean(parent) {
  for (const node of [...parent.childNodes]) {
    if (node.nodeType === Node.TEXT_NODE) continue;
    if (node.nodeType !== Node.ELEMENT_NODE) {
      node.remove();
      continue;
    }
    const tag = node.localName;
    if (DROP.has(tag)) {
      node.remove();
      continue;
    }
    clean(node);
    if (ALLOWED.has(tag)) cleanAttributes(node);
    else node.replaceWith(...node.childNodes);
  }
}

const template = document.createElement("template");

/** `remoteImages` counts held-back images. */
export function safeFragment(html) {
  template.innerHTML = html;
  const fragment = template.content;
  clean(fragment);
  const held = fragment.querySelectorAll("img[data-src]").length;
  const result = document.importNode(fragment, true);
  template.innerHTML = "";
  return { fragment: result, remoteImages: held };
}

/** Search highlights: escaped text with <b> around matches; only text and <b> are rebuilt. */
export function highlighted(html) {
  const out = document.createDocumentFragment();
  const parts = String(html).split(/(<b>|<\/b>)/);
  let bold = null;
  for (const part of parts) {
    if (part === "<b>") {
      bold = document.createElement("b");
      continue;
    }
    if (part === "</b>") {
      if (bold) out.append(bold);
      bold = null;
      continue;
    }
    if (!part) continue;
    const text = document.createTextNode(unescape(part));
    if (bold) bold.append(text);
    else out.append(text);
  }
  if (bold) out.append(bold);
  return out;
}

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };

function unescape(text) {
  return text.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (entity) => ENTITIES[entity]);
}
