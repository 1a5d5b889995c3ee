// Form errors from the API: each message next to its field, the rest at the top of the form.

import { $, $$, h, setText } from "./dom.js";

export function clearErrors(form) {
  for (const element of $$("[data-error-for]", form)) setText(element, "");
  for (const input of $$("input", form)) input.removeAttribute("aria-invalid");
}

export function showErrors(form, body) {
  let first = null;
  const general = [];
  for (const [field, messages] of Object.entries(body || {})) {
    const list = Array.isArray(messages) ? messages.map(String) : [String(messages)];
    const text = list.join(" ");
    const slot = $(`[data-error-for="${CSS.escape(field)}"]`, form);
    const input = form.elements.namedItem(field);
    if (slot && field !== "non_field_errors") {
      // Every problem of the field, each on its own line.
      slot.replaceChildren(...(list.length > 1 ? [h("ul", { class: "plain" }, ...list.map((m) => h("li", {}, m)))] : list));
      slot.hidden = false;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    } else {
      general.push(field === "non_field_errors" || field === "detail" ? text : `${field}: ${text}`);
    }
  }
  setText($('[data-error-for="non_field_errors"]', form), general.join(" "));
  if (first) first.focus();
}
