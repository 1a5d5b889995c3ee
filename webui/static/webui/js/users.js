// Users, for admins: list, create, edit (names, email, role), deactivate / reactivate, reset a password.

import { api, ApiError } from "./api.js";
import { $, $$, formatDateTime, h, setText, show } from "./dom.js";
import { clearErrors, showErrors } from "./forms.js";

const ROLES = { operator: "Operator", admin: "Admin", auditor: "Auditor" };
const state = { users: [], editing: null, resetting: null, me: null };

export async function loadUsers(me) {
  if (me) state.me = me;
  setText($("#users-error"), "");
  try {
    state.users = await api("/api/auth/users/");
  } catch (error) {
    setText($("#users-error"), error.message);
    return;
  }
  $("#users tbody").replaceChildren(...state.users.map(row));
}

function fullName(user) {
  return [user.first_name, user.last_name].filter(Boolean).join(" ");
}

function row(user) {
  const self = state.me && state.me.id === user.id;
  const edit = h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${user.username}` }, "Edit");
  edit.addEventListener("click", () => openForm(user, edit));
  const reset = h(
    "button",
    { type: "button", class: "secondary small", "aria-label": `Reset password of ${user.username}` },
    "Reset password",
  );
  reset.addEventListener("click", () => openReset(user, reset));
  const toggle = h(
    "button",
    {
      type: "button",
      class: user.is_active ? "danger small" : "secondary small",
      "aria-label": `${user.is_active ? "Deactivate" : "Reactivate"} ${user.username}`,
      disabled: Boolean(self),
      title: self ? "You can't deactivate your own account." : undefined,
    },
    user.is_active ? "Deactivate" : "Reactivate",
  );
  toggle.addEventListener("click", () => setActive(user, !user.is_active));
  const status = user.is_active ? (user.must_change_password ? "Yes (new password pending)" : "Yes") : "No";
  return h(
    "tr",
    { "data-user": user.username, class: user.is_active ? "" : "disabled" },
    h("td", {}, h("strong", {}, user.username)),
    h("td", {}, fullName(user)),
    h("td", {}, user.email || ""),
    h("td", { class: "role-cell" }, ROLES[user.role] || user.role),
    h("td", { class: "active-cell" }, status),
    h("td", {}, user.last_login ? formatDateTime(user.last_login) : "never"),
    h("td", { class: "actions" }, edit, reset, toggle),
  );
}

async function setActive(user, isActive) {
  try {
    await api(`/api/auth/users/${user.id}/`, { method: "PATCH", body: { is_active: isActive } });
  } catch (error) {
    setText($("#users-error"), error.message);
  }
  await loadUsers();
  const again = $$("#users tbody tr").find((tr) => tr.dataset.user === user.username);
  const button = again && again.querySelector(".actions button:nth-child(3)");
  if (button) button.focus();
}

function openForm(user, opener) {
  const dialog = $("#user-dialog");
  const form = $("#user-form");
  state.editing = user;
  form.reset();
  clearErrors(form);
  $("#user-form-title").textContent = user ? `Edit ${user.username}` : "New user";
  for (const element of $$("[data-new-only]", form)) element.hidden = Boolean(user);
  form.elements.username.required = !user;
  form.elements.password.required = !user;
  if (user) {
    form.elements.first_name.value = user.first_name;
    form.elements.last_name.value = user.last_name;
    form.elements.email.value = user.email;
    form.elements.role.value = user.role;
  }
  const self = user && state.me && state.me.id === user.id;
  form.elements.role.disabled = Boolean(self);
  show($("#u-role-hint"), Boolean(self));
  dialog.addEventListener("close", () => opener && opener.isConnected && opener.focus(), { once: true });
  dialog.showModal();
  (user ? form.elements.first_name : form.elements.username).focus();
}

async function save(event) {
  event.preventDefault();
  const form = $("#user-form");
  clearErrors(form);
  const body = {
    first_name: form.elements.first_name.value,
    last_name: form.elements.last_name.value,
    email: form.elements.email.value.trim(),
  };
  if (!form.elements.role.disabled) body.role = form.elements.role.value;
  if (!state.editing) {
    body.username = form.elements.username.value.trim();
    body.password = form.elements.password.value;
  }
  const submit = form.querySelector('button[type="submit"]');
  submit.disabled = true;
  try {
    if (state.editing) await api(`/api/auth/users/${state.editing.id}/`, { method: "PATCH", body });
    else await api("/api/auth/users/", { method: "POST", body });
    $("#user-dialog").close();
    await loadUsers();
  } catch (error) {
    if (error instanceof ApiError && (error.status === 400 || error.status === 409)) showErrors(form, error.body);
    else showErrors(form, { non_field_errors: [error.message] });
  } finally {
    submit.disabled = false;
  }
}

function openReset(user, opener) {
  const dialog = $("#reset-dialog");
  const form = $("#reset-form");
  state.resetting = user;
  form.reset();
  clearErrors(form);
  $("#reset-form-title").textContent = `Reset the password of ${user.username}`;
  dialog.addEventListener("close", () => opener && opener.isConnected && opener.focus(), { once: true });
  dialog.showModal();
  form.elements.password.focus();
}

async function reset(event) {
  event.preventDefault();
  const form = $("#reset-form");
  clearErrors(form);
  const submit = form.querySelector('button[type="submit"]');
  submit.disabled = true;
  try {
    await api(`/api/auth/users/${state.resetting.id}/reset_password/`, {
      method: "POST",
      body: { password: form.elements.password.value },
    });
    $("#reset-dialog").close();
    await loadUsers();
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) showErrors(form, error.body);
    else showErrors(form, { non_field_errors: [error.message] });
  } finally {
    submit.disabled = false;
  }
}

export function initUsers() {
  $("#new-user").addEventListener("click", (event) => openForm(null, event.currentTarget));
  $("#user-form").addEventListener("submit", save);
  $("#user-dialog [data-close]").addEventListener("click", () => $("#user-dialog").close());
  $("#reset-form").addEventListener("submit", reset);
  $("#reset-dialog [data-close]").addEventListener("click", () => $("#reset-dialog").close());
}
