// DICOM Transfer's web page: sign in, then upload / send / watch, the audit log, destinations.

import { api, clearSession, hasSession, login, logout, setSessionLostHandler } from "./api.js";
import { $, $$, setText, show } from "./dom.js";
import { initConnection } from "./connection.js";
import { initDestinations, loadAdminDestinations } from "./destinations.js";
import { fillDestinationFilter, initLog, loadLog } from "./log.js";
import { initSend, loadDestinations, showSend } from "./send.js";
import { initTransfers } from "./transfers.js";

const VIEWS = ["send", "log", "destinations"];
let user = null;
let logLoaded = false;

function currentView() {
  const name = location.hash.replace(/^#/, "");
  if (!VIEWS.includes(name)) return "send";
  if (name === "destinations" && !(user && user.is_staff)) return "send";
  return name;
}

async function route() {
  if (!user) return;
  const view = currentView();
  for (const name of VIEWS) show($(`#view-${name}`), name === view);
  for (const link of $$("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view === "send") await showSend();
  if (view === "log") {
    await refreshDestinationFilter();
    if (!logLoaded) {
      logLoaded = true;
      await loadLog();
    }
  }
  if (view === "destinations") await loadAdminDestinations();
}

async function refreshDestinationFilter() {
  try {
    fillDestinationFilter(await api("/api/destinations/"));
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

function signedIn(who) {
  user = who;
  show($("#view-login"), false);
  show($("#nav"));
  show($("#account"));
  $("#current-user").textContent = who.username;
  $("#current-role").textContent = who.is_staff ? " (admin)" : "";
  for (const element of $$("[data-admin]")) show(element, Boolean(who.is_staff));
  document.body.classList.toggle("is-admin", Boolean(who.is_staff));
  route();
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
  window.addEventListener("hashchange", route);
  setSessionLostHandler(() => {
    clearSession();
    location.replace(`${location.pathname}#signed-out`);
    location.reload();
  });
  initConnection();
  initSend();
  initTransfers();
  initLog();
  initDestinations(async () => {
    await loadDestinations();
    await refreshDestinationFilter();
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
