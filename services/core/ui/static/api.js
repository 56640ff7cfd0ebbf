// Calls to core with the browser's session cookie. Core hands out the CSRF token in the
// X-Harbor-CSRF-Token header of every response (its __csrf cookie is HttpOnly, so scripts cannot read
// it); unsafe requests must echo the latest one.

const CSRF_HEADER = "X-Harbor-CSRF-Token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let csrfToken = "";
// Called when the API answers 401 to a logged-in page: the session expired (or was ended elsewhere).
let sessionLost = null;

export function onSessionLost(handler) {
  sessionLost = handler;
}

export const API = "/api/v2.0";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.errors?.[0]?.message ?? `${response.status} ${response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

// body: undefined, a URLSearchParams (sent as a form) or anything else (sent as JSON).
export async function request(method, path, body) {
  // X-Requested-With: core then leaves the Basic challenge off a 401, so the browser shows no password
  // dialog of its own and the 401 reaches us (to draw the login page).
  const headers = { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" };
  if (UNSAFE.has(method) && csrfToken) headers[CSRF_HEADER] = csrfToken;
  let payload;
  if (body instanceof URLSearchParams) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  const token = response.headers.get(CSRF_HEADER);
  if (token) csrfToken = token;
  if (!response.ok) {
    const error = new ApiError(response.status, await errorMessage(response));
    // A refused login is the login page's to say; any other 401 means the session is gone.
    if (response.status === 401 && path !== "/c/login" && sessionLost) sessionLost();
    throw error;
  }
  return response;
}

// A JSON GET; `total` is the list's X-Total-Count (0 when absent).
export async function getJson(path) {
  const response = await request("GET", path);
  return { data: await response.json(), total: Number(response.headers.get("X-Total-Count") ?? 0) };
}

// The id a 201 names: the last segment of its Location (".../executions/12" → "12").
export function createdId(response) {
  return (response.headers.get("Location") ?? "").split("/").pop();
}
