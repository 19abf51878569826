// Line icons as inline SVG (not every system has a colour emoji font).

const PATHS = {
  email: "M3 6h18v12H3z M3 6l9 7 9-7", sms: "M4 5h16v11H9l-5 4z",
  bell: "M6 16V11a6 6 0 0 1 12 0v5l2 2H4z M10 20a2 2 0 0 0 4 0",
  link: "M10 14a4 4 0 0 0 6 0l3-3a4 4 0 0 0-6-6l-1 1 M14 10a4 4 0 0 0-6 0l-3 3a4 4 0 0 0 6 6l1-1",
  flag: "M5 21V4 M5 4h11l-2 4 2 4H5",
};
const NS = "http://www.w3.org/2000/svg";

export function icon(name, className = "") {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon-${name} ${className}`.trim());
  svg.ariaHidden = "true";
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}
