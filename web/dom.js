// Building elements. Text from the server only ever goes in through textContent.

/** A new element with a class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/** Text a screen reader says but the eye does not see. */
export function hiddenText(text) {
  return el("span", "visually-hidden", text);
}
