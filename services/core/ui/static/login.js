// The login page: POST /c/login with principal and password (as a form, like Harbor's UI).

import { request } from "./api.js";
import { field, h, notice } from "./dom.js";

export function loginPage({ onLoggedIn, message = null }) {
  const principal = h("input", { name: "principal", id: "principal", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    id: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const submit = h("button", { type: "submit" }, "Log in");
  const status = notice();
  if (message) status.show(message);

  async function logIn(event) {
    event.preventDefault();
    submit.disabled = true;
    status.clear();
    try {
      await request("POST", "/c/login", new URLSearchParams({ principal: principal.value, password: password.value }));
      await onLoggedIn();
    } catch (err) {
      status.show(
        err.status === 401 ? "Invalid user name or password." : `Could not log in: ${err.message}`,
        "error",
      );
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
    }
  }

  return h(
    "main",
    { class: "login-page" },
    h(
      "form",
      { class: "login card", method: "post", action: "/c/login", onsubmit: logIn },
      h("h1", {}, "Berth"),
      h("p", { class: "subtitle" }, "Container registry"),
      field("User name or email", principal),
      field("Password", password),
      status,
      submit,
    ),
  );
}
