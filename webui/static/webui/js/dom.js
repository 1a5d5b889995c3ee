// Small DOM helpers. Every value from the server or the user goes in as text (textContent or an
// attribute), never as HTML.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// h("td", {class: "num"}, "12") → <td class="num">12</td>. Children are nodes or text.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name in element && typeof value !== "string") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function show(element, visible = true) {
  element.hidden = !visible;
}

export function setText(element, text) {
  element.textContent = text ?? "";
  element.hidden = !text;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDateTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  // Local time, written the unambiguous way (2026-11-28 09:15:02), whatever the browser's locale.
  const pad = (number) => String(number).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

// DICOM person names: "DOE^JANE" reads "DOE, JANE".
export function personName(name) {
  const [family, given, middle, prefix, suffix] = String(name || "")
    .split("=")[0]
    .split("^")
    .map((part) => part.trim());
  const rest = [prefix, given, middle, suffix].filter(Boolean).join(" ");
  if (!family && !rest) return "(no name)"; // empty, or only separators such as "^^^^"
  return family && rest ? `${family}, ${rest}` : family || rest;
}

export function announce(text) {
  const region = document.getElementById("announcer");
  if (region) region.textContent = text;
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}
