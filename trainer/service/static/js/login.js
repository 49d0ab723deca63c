// The login form: POST /login with the service's token sets the session cookie (HttpOnly, so this page
// never sees it again); then the page loads as it was asked for.

import { api, ApiError } from "./api.js";
import { el } from "./dom.js";

export function showLogin(container) {
  const token = el("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true });
  const message = el("p", { class: "message error", role: "alert" });
  const submit = async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      await api("POST", "/login", { token: token.value });
    } catch (error) {
      message.textContent = error instanceof ApiError && error.status === 401 ? "That is not the service's token." : error.message;
      return;
    }
    location.reload();
  };
  container.replaceChildren(
    el("form", { id: "login", class: "login", onsubmit: submit },
      el("h2", {}, "Log in"),
      el("p", { class: "hint" },
        "The token is in the file the service named when it started (<workdir>/token by default), ",
        "or in TRAINER_SERVICE_TOKEN."),
      el("label", { for: "token" }, "Token"),
      token,
      el("button", { type: "submit" }, "Log in"),
      message),
  );
  token.focus();
}
