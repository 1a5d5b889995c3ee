// One's own password: the "Change password" page, and the forced change after an admin set a
// temporary one. A new password ends every session of the user (this one too), so the page
// signs in again with it.

import { api, ApiError, login } from "./api.js";
import { $, setText, show } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";

let afterChange = () => {};
let currentUser = null;

export function preparePasswordView(user, forced) {
  currentUser = user;
  const form = $("#password-form");
  form.reset();
  clearErrors(form);
  setText($("#password-done"), "");
  show($("#password-forced"), forced);
  show($("#password-cancel"), !forced);
  form.elements.current_password.focus();
}

async function submit(event) {
  event.preventDefault();
  const form = $("#password-form");
  clearErrors(form);
  const current = form.elements.current_password.value;
  const next = form.elements.new_password.value;
  if (!current) return showErrors(form, { current_password: ["Enter your current password."] });
  if (!next) return showErrors(form, { new_password: ["Enter the new password."] });
  if (next !== form.elements.confirm_password.value) {
    return showErrors(form, { confirm_password: ["The two new passwords differ."] });
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    await api("/api/auth/user/update/", { method: "PATCH", body: { current_password: current, new_password: next } });
  } catch (error) {
    button.disabled = false;
    if (error instanceof ApiError && error.status === 400) showErrors(form, error.body);
    else showErrors(form, { non_field_errors: [error.message] });
    return;
  }
  // Every session ended with the change: start a new one with the new password.
  try {
    const who = await login(currentUser.username, next);
    form.reset();
    afterChange(who, "Your password has been changed. Other sessions have been signed out.");
  } catch (error) {
    showErrors(form, { non_field_errors: [`Password changed; please sign in again (${error.message}).`] });
  } finally {
    button.disabled = false;
  }
}

export function initPassword(onChanged) {
  afterChange = onChanged;
  $("#password-form").addEventListener("submit", submit);
  $("#password-cancel").addEventListener("click", () => history.back());
}
