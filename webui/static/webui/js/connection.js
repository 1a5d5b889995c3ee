// "Connection lost — retrying": shown as soon as a request can't reach the server, gone by itself
// when the server answers again. While lost, /api/health/ is asked every PROBE_MS (any HTTP answer,
// even 503, means the server is back); listeners hear about both changes.

import { setReachabilityHandler } from "./api.js";
import { $, formatDateTime, setText } from "./dom.js";

const PROBE_MS = 2000;
const state = { online: true, since: null, timer: null, listeners: [] };

export function isOnline() {
  return state.online;
}

export function onConnectionChange(listener) {
  state.listeners.push(listener);
}

function changed(online) {
  if (state.online === online) return;
  state.online = online;
  state.since = new Date();
  const banner = $("#connection-banner");
  if (online) {
    clearTimeout(state.timer);
    state.timer = null;
    setText($("#connection-text"), "");
    banner.hidden = true;
  } else {
    setText(
      $("#connection-text"),
      `Connection lost — retrying. The server has not answered since ${formatDateTime(state.since.toISOString())}; ` +
        "what the page shows is as last known.",
    );
    banner.hidden = false;
    probe();
  }
  for (const listener of state.listeners) listener(online);
}

async function probe() {
  clearTimeout(state.timer);
  try {
    await fetch("/api/health/", { cache: "no-store", headers: { Accept: "application/json" } });
    changed(true);
    return;
  } catch {
    // Still unreachable.
  }
  state.timer = setTimeout(probe, PROBE_MS);
}

export function initConnection() {
  setReachabilityHandler(changed);
  $("#connection-retry").addEventListener("click", probe);
}
