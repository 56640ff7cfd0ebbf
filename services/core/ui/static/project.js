// One project, in tabs as Harbor draws it: Summary and Configuration (project_summary.js), Repositories
// (repositories.js, the tab a project opens on), Members (here), Labels
// (labels.js, for those who may change them: project admins and maintainers), Policy (policy.js: tag
// retention and immutability, for the roles that may read either), Robot Accounts (robots.js, for the roles
// that may list them), Webhooks (webhooks.js, for the roles that may read its webhook policies) and Logs
// (logs.js, only offered when GET /api/v2.0/projects/{id}/logs answers 200 for this user). Under the title,
// from GET /api/v2.0/projects/{id}/summary (Harbor's Summary): the upstream of a proxy cache, and the quota
// bar for those the summary shows the quota to.

import { API, getJson, request } from "./api.js";
import { failure, field, h, link, notice } from "./dom.js";
import { projectLabelsTab } from "./labels.js";
import { logsTab } from "./logs.js";
import { POLICY_READERS, policyTab } from "./policy.js";
import { quotaBar } from "./quotas.js";
import { configurationTab, summaryTab } from "./project_summary.js";
import { repositoriesTab } from "./repositories.js";
import { projectRobotsTab } from "./robots.js";
import { PROJECT_ADMIN, ROLES, roleName } from "./roles.js";
import { WEBHOOK_READERS, webhooksTab } from "./webhooks.js";

const TABS = [
  ["summary", "Summary"],
  ["repositories", "Repositories"],
  ["members", "Members"],
  ["labels", "Labels"],
  ["policy", "Policy"],
  ["robot-account", "Robot Accounts"],
  ["webhook", "Webhooks"],
  ["logs", "Logs"],
  ["configs", "Configuration"],
];
// Harbor's role table (services/common/rbac.py): who may change a project's labels, and who may list its
// robots (every role but Limited Guest). Decided from the roles, so no refused probe is logged.
const LABEL_EDITORS = [1, 4];
const ROBOT_READERS = [1, 2, 3, 4];

export function projectPage({ user, params }) {
  const id = Number(params[0]);
  const tab = params[1] ?? "repositories";
  const base = `${API}/projects/${id}`;
  const title = h("h1", {}, "Project");
  const status = notice();
  const quota = h("p", { class: "project-quota", id: "project-quota", hidden: true });
  const proxy = h("p", { class: "proxy-cache", id: "project-proxy-cache", hidden: true });
  const tabs = h("nav", { class: "tabs", id: "project-tabs", "aria-label": "project" });
  const body = h("div", { class: "tab-body" });

  async function load() {
    let project;
    try {
      project = (await getJson(base)).data;
    } catch (err) {
      status.show(`Could not load the project: ${err.message}`, "error");
      return;
    }
    title.textContent = `Project ${project.name}`;
    loadSummary();
    const canSeeLogs = await getJson(`${base}/logs?page_size=1`).then(
      () => true,
      () => false,
    );
    const roles = project.current_user_role_ids ?? [];
    const holds = (wanted) => user.sysadmin_flag || roles.some((r) => wanted.includes(r));
    const offered = {
      logs: canSeeLogs,
      labels: holds(LABEL_EDITORS),
      policy: holds(POLICY_READERS),
      "robot-account": holds(ROBOT_READERS),
      webhook: holds(WEBHOOK_READERS),
    };
    const shown = TABS.filter(([key]) => offered[key] !== false || tab === key);
    tabs.replaceChildren(
      ...shown.map(([key, label]) => {
        const a = link(`/harbor/projects/${id}/${key}`, label);
        if (key === tab) a.setAttribute("aria-current", "page");
        return a;
      }),
    );
    const ctx = { user, project, base };
    if (tab === "summary") body.replaceChildren(summaryTab(ctx));
    else if (tab === "configs") body.replaceChildren(configurationTab(ctx));
    else if (tab === "members") body.replaceChildren(membersTab(ctx));
    else if (tab === "logs") body.replaceChildren(logsTab(ctx));
    else if (tab === "labels") body.replaceChildren(projectLabelsTab(ctx));
    else if (tab === "robot-account") body.replaceChildren(projectRobotsTab(ctx));
    else if (tab === "policy") body.replaceChildren(policyTab({ ...ctx, holds }));
    else if (tab === "webhook") body.replaceChildren(webhooksTab(ctx));
    else body.replaceChildren(repositoriesTab(ctx));
  }

  async function loadSummary() {
    try {
      const summary = (await getJson(`${base}/summary`)).data;
      if (summary.registry) {
        proxy.textContent = `Proxy cache of ${summary.registry.name} (${summary.registry.url}).`;
        proxy.hidden = false;
      }
      if (!summary.quota) return; // not this user's to see
      quota.replaceChildren("Quota used", quotaBar(summary.quota.used.storage, summary.quota.hard.storage));
      quota.hidden = false;
    } catch (err) {
      status.show(failure("read the project's summary", err), "error");
    }
  }

  load();
  return h(
    "section",
    { class: "project" },
    h("p", { class: "crumbs" }, link("/harbor/projects", "‹ Projects")),
    title,
    quota,
    proxy,
    status,
    tabs,
    body,
  );
}

// The members (GET /api/v2.0/projects/{id}/members); project admins and system administrators add and
// remove them.
function membersTab({ user, project, base }) {
  const status = notice();
  const rows = h("tbody");
  const adminArea = h("div");
  const canManage = user.sysadmin_flag || (project.current_user_role_ids ?? []).includes(PROJECT_ADMIN);

  async function load() {
    try {
      const members = (await getJson(`${base}/members?page_size=100`)).data;
      rows.replaceChildren(...members.map(memberRow));
    } catch (err) {
      status.show(`Could not list the members: ${err.message}`, "error");
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

  adminArea.replaceChildren(canManage ? addForm() : "");
  load();
  return h(
    "div",
    {},
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
