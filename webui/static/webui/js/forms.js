// Form errors from the API: each message next to its field, the rest at the top of the form.

import { $, $$, setText } from "./dom.js";

export function clearErrors(form) {
  for (const element of $$("[data-error-for]", form)) setText(element, "");
  for (const input of $$("input", form)) input.removeAttribute("aria-invalid");
}

export function showErrors(form, body) {
  let first = null;
  const general = [];
  for (const [field, messages] of Object.entries(body || {})) {
    const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
    const slot = $(`[data-error-for="${CSS.escape(field)}"]`, form);
    const input = form.elements.namedItem(field);
    if (slot && field !== "non_field_errors") {
      setText(slot, text);
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
