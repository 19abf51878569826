// Building elements. Text from the server only ever goes in through textContent.

export function el(tag, className, text, props) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return Object.assign(node, props);
}

export function button(className, text, onClick) {
  const node = el("button", className, text);
  node.type = "button";
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

export function emit(target, type, detail) {
  target.dispatchEvent(new CustomEvent(type, { detail, bubbles: true }));
}

export function hiddenText(text) {
  return el("span", "visually-hidden", text);
}

/** A table with a hidden caption and column headings; rows go in `table.tBodies[0]`. */
export function grid(className, caption, titles) {
  const table = el("table", `grid ${className}`);
  const row = el("tr");
  for (const title of titles) row.append(el("th", null, title, { scope: "col" }));
  table.append(el("caption", "visually-hidden", caption), el("thead"), el("tbody"));
  table.tHead.append(row);
  return table;
}
