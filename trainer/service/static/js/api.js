// The service's JSON API, called with the session cookie; a 401 anywhere asks the page for the login form.

/** The service refused the session (no cookie, or a stale one): the page shows the login form. */
export class Unauthorized extends Error {}

/** A 4xx or 5xx answer: `status`, and the service's `{"error", "details"}` body. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `the service answered ${status}`);
    this.status = status;
    this.details = Array.isArray(body?.details) ? body.details : [];
  }
}

export const LOGIN_NEEDED = "dashboard:login-needed";

/** `method path` with an optional JSON `body`; the answer's JSON, or ApiError / Unauthorized. */
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON (a proxy's error page, say): the status says enough.
  }
  if (response.status === 401 && path !== "/login") {
    window.dispatchEvent(new CustomEvent(LOGIN_NEEDED));
    throw new Unauthorized(data?.error ?? "not logged in");
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
