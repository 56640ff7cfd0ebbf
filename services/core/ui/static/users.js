// System administrators only: list users (with a filter and paging), create one, toggle the
// administrator flag.

import { API, getJson, request } from "./api.js";
import { field, formatTime, h, notice, pager } from "./dom.js";

const PAGE_SIZE = 15;
const ADMIN_USER_ID = 1;

export function usersPage({ user: me }) {
  let page = 1;
  let filter = "";
  const status = notice();
  const rows = h("tbody");
  const paging = h("div");

  const filterInput = h("input", { type: "search", id: "user-filter", placeholder: "Filter by user name" });
  filterInput.addEventListener("input", () => {
    filter = filterInput.value.replaceAll(",", "").trim();
    page = 1;
    load();
  });

  async function load() {
    const query = new URLSearchParams({ page, page_size: PAGE_SIZE, sort: "username" });
    if (filter) query.set("q", `username=~${filter}`);
    try {
      const { data, total } = await getJson(`${API}/users?${query}`);
      rows.replaceChildren(...data.map(userRow));
      paging.replaceChildren(
        pager(page, PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(`Could not list users: ${err.message}`, "error");
    }
  }

  function userRow(u) {
    const fixed = u.user_id === ADMIN_USER_ID || u.user_id === me.user_id;
    const toggle = async () => {
      try {
        await request("PUT", `${API}/users/${Number(u.user_id)}/sysadmin`, { sysadmin_flag: !u.sysadmin_flag });
        status.show(`${u.username} ${u.sysadmin_flag ? "is no longer" : "is now"} an administrator.`);
        await load();
      } catch (err) {
        status.show(`Could not change ${u.username}: ${err.message}`, "error");
      }
    };
    return h(
      "tr",
      {},
      h("td", {}, u.username),
      h("td", {}, u.email),
      h("td", {}, u.realname),
      h("td", {}, u.sysadmin_flag ? "Yes" : "No"),
      h("td", {}, formatTime(u.creation_time)),
      h(
        "td",
        {},
        fixed
          ? ""
          : h("button", { type: "button", onclick: toggle }, u.sysadmin_flag ? "Revoke admin" : "Make admin"),
      ),
    );
  }

  const username = h("input", { name: "username", id: "new-user-name", required: true, autocomplete: "off" });
  const email = h("input", { name: "email", id: "new-user-email", type: "email", required: true });
  const realname = h("input", { name: "realname", id: "new-user-realname" });
  const password = h("input", {
    name: "password",
    id: "new-user-password",
    type: "password",
    required: true,
    autocomplete: "new-password",
  });

  async function create(event) {
    event.preventDefault();
    status.clear();
    const name = username.value.trim();
    try {
      await request("POST", `${API}/users`, {
        username: name,
        email: email.value.trim(),
        realname: realname.value.trim(),
        password: password.value,
      });
      status.show(`User ${name} created.`);
      for (const input of [username, email, realname, password]) input.value = "";
      await load();
    } catch (err) {
      status.show(`Could not create the user: ${err.message}`, "error");
    }
  }

  load();
  return h(
    "section",
    { class: "users" },
    h("h1", {}, "Users"),
    h(
      "form",
      { class: "inline card", id: "new-user", onsubmit: create },
      h("h2", {}, "New user"),
      field("User name", username),
      field("Email", email),
      field("Full name", realname),
      field("Password", password),
      h("p", { class: "hint" }, "8 to 128 characters, with an upper-case letter, a lower-case letter and a digit."),
      h("button", { type: "submit" }, "Create user"),
    ),
    status,
    h("div", { class: "toolbar" }, filterInput),
    h(
      "table",
      { id: "users" },
      h(
        "thead",
        {},
        h("tr", {}, ["User name", "Email", "Full name", "Administrator", "Created", ""].map((t) => h("th", {}, t))),
      ),
      rows,
    ),
    paging,
  );
}
