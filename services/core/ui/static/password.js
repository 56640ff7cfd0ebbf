// Changing your own password: PUT /api/v2.0/users/{id}/password with the old one.

import { API, request } from "./api.js";
import { field, h, notice } from "./dom.js";

export function passwordPage({ user, refreshSession }) {
  const status = notice();
  const input = (id, autocomplete) => h("input", { id, type: "password", required: true, autocomplete });
  const oldPassword = input("old-password", "current-password");
  const newPassword = input("new-password", "new-password");
  const again = input("new-password-again", "new-password");

  async function change(event) {
    event.preventDefault();
    status.clear();
    if (newPassword.value !== again.value) {
      status.show("The two new passwords differ.", "error");
      return;
    }
    try {
      await request("PUT", `${API}/users/${Number(user.user_id)}/password`, {
        old_password: oldPassword.value,
        new_password: newPassword.value,
      });
      for (const el of [oldPassword, newPassword, again]) el.value = "";
      // systeminfo again: the default-password banner goes once the admin's password changed.
      await refreshSession("Your password was changed.");
    } catch (err) {
      status.show(`Could not change the password: ${err.message}`, "error");
    }
  }

  return h(
    "section",
    { class: "password" },
    h("h1", {}, `Change the password of ${user.username}`),
    h(
      "form",
      { class: "card", id: "change-password", onsubmit: change },
      field("Current password", oldPassword),
      field("New password", newPassword),
      field("New password again", again),
      h("p", { class: "hint" }, "8 to 128 characters, with an upper-case letter, a lower-case letter and a digit."),
      status,
      h("button", { type: "submit" }, "Change password"),
    ),
  );
}
