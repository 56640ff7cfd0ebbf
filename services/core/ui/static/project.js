// One project: its members (GET /api/v2.0/projects/{id}/members); project admins and system
// administrators add and remove them.

import { API, getJson, request } from "./api.js";
import { field, h, link, notice } from "./dom.js";
import { PROJECT_ADMIN, ROLES, roleName } from "./roles.js";

export function projectPage({ user, params }) {
  const id = Number(params[0]);
  const base = `${API}/projects/${id}`;
  const title = h("h1", {}, "Project");
  const status = notice();
  const rows = h("tbody");
  const adminArea = h("div");
  let canManage = false;

  async function load() {
    try {
      const project = (await getJson(base)).data;
      title.textContent = `Project ${project.name}`;
      canManage = user.sysadmin_flag || (project.current_user_role_ids ?? []).includes(PROJECT_ADMIN);
      const members = (await getJson(`${base}/members?page_size=100`)).data;
      rows.replaceChildren(...members.map(memberRow));
      adminArea.replaceChildren(canManage ? addForm() : "");
    } catch (err) {
      status.show(`Could not load the project: ${err.message}`, "error");
    }
  }

  function memberRow(m) {
    const remove = async () => {
      if (!window.confirm(`Remove ${m.entity_name} from this project?`)) return;
      try {
        await request("DELETE", `${base}/members/${Number(m.id)}`);
        status.show(`${m.entity_name} removed.`);
        await load();
      } catch (err) {
        status.show(`Could not remove ${m.entity_name}: ${err.message}`, "error");
      }
    };
    return h(
      "tr",
      {},
      h("td", {}, m.entity_name),
      h("td", {}, m.entity_type === "g" ? "Group" : "User"),
      h("td", {}, roleName(m.role_id)),
      h("td", {}, canManage ? h("button", { type: "button", class: "danger", onclick: remove }, "Remove") : ""),
    );
  }

  function addForm() {
    const username = h("input", { name: "username", id: "member-username", required: true });
    const options = ROLES.map(([value, name]) => h("option", { value }, name));
    const role = h("select", { name: "role_id", id: "member-role" }, options);
    role.value = "2"; // developer: the usual grant
    const add = async (event) => {
      event.preventDefault();
      status.clear();
      try {
        await request("POST", `${base}/members`, {
          role_id: Number(role.value),
          member_user: { username: username.value.trim() },
        });
        status.show(`${username.value.trim()} added.`);
        username.value = "";
        await load();
      } catch (err) {
        status.show(`Could not add the member: ${err.message}`, "error");
      }
    };
    return h(
      "form",
      { class: "inline card", id: "add-member", onsubmit: add },
      h("h2", {}, "Add a member"),
      field("User name", username),
      field("Role", role),
      h("button", { type: "submit" }, "Add member"),
    );
  }

  load();
  return h(
    "section",
    { class: "project" },
    h("p", { class: "crumbs" }, link("/harbor/projects", "‹ Projects")),
    title,
    h("h2", {}, "Members"),
    status,
    adminArea,
    h(
      "table",
      { id: "members" },
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "Role"), h("th", {}, ""))),
      rows,
    ),
  );
}
