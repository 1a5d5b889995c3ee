// DICOM Transfer's web page: sign in, then upload / send / watch, the audit log, destinations
// and users (admins), the dashboard (admins, auditors), one's own password.

import { api, clearSession, hasSession, login, logout, setSessionLostHandler } from "./api.js";
import { $, $$, announce, setText, show } from "./dom.js";
import { initConnection } from "./connection.js";
import { initDashboard, loadDashboard } from "./dashboard.js";
import { initDestinations, loadAdminDestinations } from "./destinations.js";
import { fillDestinationFilter, initLog, loadLog } from "./log.js";
import { initPassword, preparePasswordView } from "./password.js";
import { initSend, loadDestinations, showSend } from "./send.js";
import { initUpload, loadRecentImports } from "./upload.js";
import { initTransfers } from "./transfers.js";
import { initUsers, loadUsers } from "./users.js";

const VIEWS = ["send", "log", "destinations", "users", "dashboard", "password"];
// What each role sees (the API refuses the rest all the same).
const ROLE_VIEWS = {
  operator: ["send", "log", "password"],
  admin: ["send", "log", "destinations", "users", "dashboard", "password"],
  auditor: ["log", "dashboard", "password"],
};
const ROLE_NAMES = { operator: "", admin: " (admin)", auditor: " (auditor)" };
let user = null;
let logLoaded = false;

function allowedViews() {
  if (!user) return [];
  if (user.must_change_password) return ["password"];
  return ROLE_VIEWS[user.role] || ROLE_VIEWS.operator;
}

function currentView() {
  const allowed = allowedViews();
  const name = location.hash.replace(/^#/, "");
  return allowed.includes(name) ? name : allowed[0];
}

async function route() {
  if (!user) return;
  const view = currentView();
  const wanted = location.hash.replace(/^#/, "");
  if (wanted !== view) {
    // A page this role does not have (a bookmark, a link from a colleague): the address says what is shown.
    history.replaceState(null, "", `#${view}`);
    if (VIEWS.includes(wanted)) announce(`That page is not part of your role; showing ${view === "log" ? "the audit log" : view}.`);
  }
  for (const name of VIEWS) show($(`#view-${name}`), name === view);
  for (const link of $$("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view === "send") {
    await Promise.all([showSend(), loadRecentImports()]);
    await showFirstSteps();
  }
  if (view === "log") {
    await refreshDestinationFilter();
    if (!logLoaded) {
      logLoaded = true;
      await loadLog();
    }
  }
  if (view === "destinations") await loadAdminDestinations();
  if (view === "users") await loadUsers(user);
  if (view === "dashboard") await loadDashboard();
  if (view === "password") preparePasswordView(user, Boolean(user.must_change_password));
}

// An admin's first sign-in: nothing can be sent before a destination exists.
async function showFirstSteps() {
  let none = false;
  if (user.role === "admin") {
    try {
      none = (await api("/api/destinations/")).length === 0;
    } catch {
      none = false;
    }
  }
  show($("#first-steps"), none);
}

async function refreshDestinationFilter() {
  try {
    const [destinations, deleted] = await Promise.all([
      api("/api/destinations/"),
      api("/api/dicom/logs/deleted-destinations/").then((answer) => answer.destinations, () => []),
    ]);
    fillDestinationFilter(destinations, deleted);
  } catch {
    // The filter still works without names.
  }
}

function showLogin(message = "") {
  user = null;
  show($("#view-login"));
  for (const name of VIEWS) show($(`#view-${name}`), false);
  show($("#nav"), false);
  show($("#account"), false);
  setText($("#login-error"), message);
  $("#login-username").focus();
}

function signedIn(who, message = "") {
  user = who;
  const allowed = allowedViews();
  show($("#view-login"), false);
  show($("#nav"), !who.must_change_password);
  show($("#account"));
  $("#current-user").textContent = who.username;
  $("#current-role").textContent = ROLE_NAMES[who.role] ?? "";
  for (const link of $$("#nav a")) show(link, allowed.includes(link.dataset.view));
  for (const element of $$("[data-admin]")) show(element, who.role === "admin");
  for (const element of $$("[data-reads-all]")) show(element, who.role === "admin" || who.role === "auditor");
  show($("#change-password"), !who.must_change_password);
  document.body.classList.toggle("is-admin", who.role === "admin");
  if (message) announce(message);
  setText($("#account-message"), message);
  if (message && location.hash === "#password") location.hash = `#${allowed[0]}`;
  else route();
}

async function submitLogin(event) {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector('button[type="submit"]');
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    setText($("#login-error"), "Enter your username and password.");
    return;
  }
  button.disabled = true;
  setText($("#login-error"), "");
  try {
    const who = await login(username, password);
    form.reset();
    signedIn(who);
    $("#main").focus();
  } catch (error) {
    setText($("#login-error"), error.status === 401 ? "Wrong username or password." : error.message);
    $("#login-password").select();
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  $("#logout").disabled = true;
  await logout();
  // A fresh document: nothing of the session stays in the page or in memory.
  location.replace(location.pathname);
}

async function start() {
  $("#login-form").addEventListener("submit", submitLogin);
  $("#logout").addEventListener("click", signOut);
  $("#change-password").addEventListener("click", () => {
    setText($("#account-message"), "");
    location.hash = "#password";
  });
  $("#add-first-destination").addEventListener("click", async () => {
    location.hash = "#destinations";
    await route();
    $("#new-destination").click();
  });
  for (const link of $$("#nav a")) link.addEventListener("click", () => setText($("#account-message"), ""));
  window.addEventListener("hashchange", route);
  setSessionLostHandler(() => {
    clearSession();
    location.replace(`${location.pathname}#signed-out`);
    location.reload();
  });
  initConnection();
  initUpload();
  initSend();
  initTransfers();
  initLog();
  initUsers();
  initDashboard();
  initPassword((who, message) => signedIn(who, message));
  initDestinations(async () => {
    await loadDestinations();
    await refreshDestinationFilter();
    await showFirstSteps();
  });
  if (hasSession()) {
    try {
      signedIn(await api("/api/auth/user/"));
      return;
    } catch {
      clearSession();
    }
  }
  showLogin(location.hash === "#signed-out" ? "Your session has ended. Please sign in again." : "");
}

start();
