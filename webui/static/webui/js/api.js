// The REST API with JWT. The access token lives in memory only; the refresh token in this tab's
// sessionStorage (so a reload keeps the session, closing the tab ends it). A 401 triggers one
// silent refresh, shared by every request waiting for it: the refresh token rotates and the old
// one is blacklisted, so two refreshes at once would log the user out.

const REFRESH_KEY = "dicom-transfer.refresh";

let accessToken = null;
let refreshing = null;
let onSessionLost = () => {};
let onReachability = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    super(describeError(status, body));
    this.status = status;
    this.body = body;
  }
}

export function describeError(status, body) {
  if (body && typeof body === "object") {
    if (typeof body.detail === "string") return body.detail;
    const parts = [];
    for (const [field, messages] of Object.entries(body)) {
      const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
      parts.push(field === "non_field_errors" ? text : `${field}: ${text}`);
    }
    if (parts.length) return parts.join(" ");
  }
  if (status === 0) return "The server could not be reached. Check the network and try again.";
  if (status === 413) return "The upload is too large for the server.";
  return `The server answered ${status}.`;
}

export function setSessionLostHandler(handler) {
  onSessionLost = handler;
}

// Told false when a request could not reach the server at all, true when one got an answer
// (connection.js shows the "connection lost" banner).
export function setReachabilityHandler(handler) {
  onReachability = handler;
}

export function hasSession() {
  return accessToken !== null || sessionStorage.getItem(REFRESH_KEY) !== null;
}

export function clearSession() {
  accessToken = null;
  refreshing = null;
  sessionStorage.clear();
  localStorage.clear();
}

function storeTokens({ access, refresh }) {
  accessToken = access;
  if (refresh) sessionStorage.setItem(REFRESH_KEY, refresh);
}

async function readBody(response) {
  const type = response.headers.get("Content-Type") || "";
  if (response.status === 204 || response.status === 205) return null;
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  return null;
}

export async function login(username, password) {
  const response = await fetch("/api/auth/login/", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, body);
  storeTokens(body);
  return body.user;
}

// One refresh at a time; everyone who needs a fresh token awaits the same promise.
export function refreshAccess() {
  if (!refreshing) {
    refreshing = (async () => {
      const refresh = sessionStorage.getItem(REFRESH_KEY);
      if (!refresh) throw new ApiError(401, { detail: "Your session has ended. Please sign in again." });
      const response = await fetch("/api/auth/refresh/", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh }),
      });
      const body = await readBody(response);
      if (!response.ok) {
        clearSession();
        onSessionLost();
        throw new ApiError(401, { detail: "Your session has ended. Please sign in again." });
      }
      storeTokens(body);
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function withFreshToken(send) {
  if (accessToken === null) await refreshAccess();
  const tokenUsed = accessToken;
  let response = await send(tokenUsed);
  if (response.status === 401) {
    // Another request may have refreshed meanwhile: only refresh if our token is still current.
    if (accessToken === tokenUsed) await refreshAccess();
    response = await send(accessToken);
  }
  return response;
}

// fetch() against the API; answers the parsed JSON body or throws ApiError.
export async function api(path, { method = "GET", body, raw = false } = {}) {
  let response;
  try {
    response = await withFreshToken((token) =>
      fetch(path, {
        method,
        headers: {
          Accept: raw ? "*/*" : "application/json",
          Authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
  } catch (error) {
    if (error instanceof ApiError) throw error;
    onReachability(false);
    throw new ApiError(0, null);
  }
  onReachability(true);
  if (raw) {
    if (!response.ok) throw new ApiError(response.status, await readBody(response));
    return response;
  }
  const data = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// An upload with XMLHttpRequest, for its upload progress events: multipart (a FormData), or
// raw bytes (a Blob, sent as application/octet-stream; a chunk of a large file, with PATCH).
export async function upload(path, body, onProgress, method = "POST") {
  const send = (token) =>
    new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path);
      xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.setRequestHeader("Accept", "application/json");
      if (body instanceof Blob) xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded, event.total);
      };
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        resolve({ status: xhr.status, ok: xhr.status >= 200 && xhr.status < 300, body });
      };
      xhr.onerror = () => resolve({ status: 0, ok: false, body: null });
      xhr.send(body);
    });
  const result = await withFreshToken(send);
  if (!result.ok) throw new ApiError(result.status, result.body);
  return result.body;
}

export async function logout() {
  try {
    // A silent refresh running for another request would rotate the token under us: wait for it.
    if (refreshing) await refreshing.catch(() => {});
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const refresh = sessionStorage.getItem(REFRESH_KEY);
      if (refresh === null) break;
      // The refresh token is read when the request is sent: a silent refresh may rotate it first.
      const response = await withFreshToken((token) =>
        fetch("/api/auth/logout/", {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
          body: JSON.stringify({ refresh: sessionStorage.getItem(REFRESH_KEY) }),
        }),
      );
      // Done, unless the token was rotated while the request was on its way (it then answers
      // 400 for the old one): blacklist the new one too.
      if (response.ok || sessionStorage.getItem(REFRESH_KEY) === refresh) break;
    }
  } catch {
    // Signed out locally all the same; the server-side token expires on its own.
  } finally {
    clearSession();
  }
}
