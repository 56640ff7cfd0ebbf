// Robot accounts, as Harbor draws them: a project's (its Robot Accounts tab,
// /harbor/projects/{id}/robot-account) and the system's (Administration › Robot Accounts,
// /harbor/robot-accounts). Listed with GET /api/v2.0/robots?q=Level=…; created with the permissions
// GET /api/v2.0/permissions offers; disabled or enabled (PUT), given a new secret (PATCH) and deleted.
// The secret comes back only from the create and the refresh, and is shown once (clipboard.js).

import { API, getJson, request } from "./api.js";
import { showSecret } from "./clipboard.js";
import { failure, field, formatTime, h, notice, pager } from "./dom.js";
import { PROJECT_ADMIN } from "./roles.js";

const PAGE_SIZE = 15;
const NEVER = -1;
const ALL_PROJECTS = "*";
const SYSTEM_NAMESPACE = "/";
const DEFAULT_DAYS = 30;
// Ticked in a new robot's form: what a robot is most often for.
const DEFAULT_ACCESS = new Set(["repository:pull"]);

export function projectRobotsTab({ user, project }) {
  const canManage = user.sysadmin_flag || (project.current_user_role_ids ?? []).includes(PROJECT_ADMIN);
  return robotsView({ level: "project", project, canManage });
}

export function systemRobotsPage() {
  return h("section", { class: "robots" }, h("h1", {}, "Robot Accounts"), robotsView({ level: "system", canManage: true }));
}

function expiry(r) {
  if (r.expires_at === NEVER) return "Never";
  const at = new Date(r.expires_at * 1000);
  return at.getTime() < Date.now() ? `Expired ${at.toLocaleString()}` : at.toLocaleString();
}

function accessCount(p) {
  return (p.access ?? []).length;
}

// "3 permissions" for a project robot; for a system robot what it holds in the system and which projects.
function permissionSummary(r) {
  const permissions = r.permissions ?? [];
  if (r.level === "project") return `${permissions.reduce((n, p) => n + accessCount(p), 0)} permissions`;
  const system = permissions.filter((p) => p.kind === "system").reduce((n, p) => n + accessCount(p), 0);
  const projects = permissions.filter((p) => p.kind === "project").map((p) => p.namespace);
  const where = projects.includes(ALL_PROJECTS) ? "all projects" : projects.join(", ") || "no project";
  return `${system} system permissions; projects: ${where}`;
}

function robotsView({ level, project, canManage }) {
  let page = 1;
  const status = notice();
  status.id = "robot-status";
  const rows = h("tbody");
  const paging = h("div");
  const formArea = h("div");
  const q = level === "project" ? `Level=project,ProjectID=${Number(project.id ?? project.project_id)}` : "Level=system";

  async function load() {
    const query = new URLSearchParams({ q, page, page_size: PAGE_SIZE });
    try {
      const { data, total } = await getJson(`${API}/robots?${query}`);
      rows.replaceChildren(...data.map(robotRow));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No robot accounts.")));
      paging.replaceChildren(
        pager(page, PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(failure("list the robot accounts", err), "error");
    }
  }

  async function change(r, method, body, done, what) {
    status.clear();
    try {
      const response = await request(method, `${API}/robots/${Number(r.id)}`, body);
      if (done) status.show(done);
      await load();
      return response;
    } catch (err) {
      status.show(failure(what, err), "error");
      return null;
    }
  }

  function robotRow(r) {
    const toggle = () =>
      change(
        r,
        "PUT",
        { disable: !r.disable },
        `${r.name} ${r.disable ? "enabled" : "disabled"}.`,
        `${r.disable ? "enable" : "disable"} ${r.name}`,
      );
    const refresh = async () => {
      if (!window.confirm(`Give ${r.name} a new secret? The current one stops working at once.`)) return;
      const response = await change(r, "PATCH", {}, null, `refresh the secret of ${r.name}`);
      if (response === null) return;
      const { secret } = await response.json();
      status.show(`${r.name} has a new secret.`);
      showSecret(r.name, secret, `New secret of ${r.name}`);
    };
    const remove = () => {
      if (!window.confirm(`Delete the robot account ${r.name}?`)) return;
      change(r, "DELETE", undefined, `${r.name} deleted.`, `delete ${r.name}`);
    };
    const actions = canManage
      ? [
          h("button", { type: "button", class: "secondary", onclick: toggle }, r.disable ? "Enable" : "Disable"),
          h("button", { type: "button", class: "secondary", onclick: refresh }, "Refresh secret"),
          h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
        ]
      : [];
    return h(
      "tr",
      { "data-id": r.id, "data-name": r.name },
      h("td", { class: "name" }, r.name),
      h("td", { class: "state" }, r.disable ? "Disabled" : "Enabled"),
      h("td", {}, permissionSummary(r)),
      h("td", {}, formatTime(r.creation_time)),
      h("td", { class: "expires" }, expiry(r)),
      h("td", { class: "description" }, r.description),
      h("td", { class: "actions" }, actions),
    );
  }

  function openForm() {
    status.clear();
    formArea.replaceChildren(
      robotForm({
        level,
        project,
        status,
        onCreated: async (created) => {
          formArea.replaceChildren(newButton());
          status.show(`Robot account ${created.name} created.`);
          showSecret(created.name, created.secret, `Robot account ${created.name} created`);
          await load();
        },
        onCancel: () => formArea.replaceChildren(newButton()),
      }),
    );
  }

  const newButton = () => h("button", { type: "button", id: "new-robot", onclick: openForm }, "New robot account");
  if (canManage) formArea.replaceChildren(newButton());
  load();
  return h(
    "div",
    { class: "robots-view" },
    level === "project" ? h("h2", {}, "Robot Accounts") : null,
    status,
    h("div", { class: "toolbar" }, formArea),
    h(
      "table",
      { id: "robots" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Name", "Status", "Permissions", "Created", "Expires", "Description", ""].map((t) => h("th", {}, t)),
        ),
      ),
      rows,
    ),
    paging,
  );
}

// The resource/action pairs of one list of GET /permissions as a table: a row per resource, a checkbox
// per action, each labelled "<action> <resource>" ("pull repository").
function permissionGrid(kind, pairs) {
  const byResource = new Map();
  for (const { resource, action } of pairs) {
    if (!byResource.has(resource)) byResource.set(resource, []);
    byResource.get(resource).push(action);
  }
  const boxes = [];
  const rows = [...byResource].map(([resource, actions]) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, resource),
      h(
        "td",
        {},
        actions.map((action) => {
          const box = h("input", {
            type: "checkbox",
            id: `perm-${kind}-${resource}-${action}`,
            "aria-label": `${action} ${resource}`,
          });
          box.checked = kind === "project" && DEFAULT_ACCESS.has(`${resource}:${action}`);
          box.dataset.resource = resource;
          box.dataset.action = action;
          boxes.push(box);
          return h("label", { class: "check" }, box, action);
        }),
      ),
    ),
  );
  const all = (checked) => () => {
    for (const box of boxes) box.checked = checked;
  };
  return {
    element: h(
      "div",
      { class: "perms", id: `perms-${kind}` },
      h(
        "div",
        { class: "toolbar buttons" },
        h("button", { type: "button", class: "secondary", onclick: all(true) }, "Select all"),
        h("button", { type: "button", class: "secondary", onclick: all(false) }, "Select none"),
      ),
      h("table", { class: "perm-grid" }, h("tbody", {}, rows)),
    ),
    access: () => boxes.filter((b) => b.checked).map((b) => ({ resource: b.dataset.resource, action: b.dataset.action })),
  };
}

// Which projects a system robot's project permissions cover: all of them, or those ticked in a list
// filtered by name (the ticks stay while the filter changes).
function projectPicker() {
  const chosen = new Set();
  const all = h("input", { type: "checkbox", id: "robot-all-projects" });
  all.checked = true;
  const filter = h("input", { type: "search", id: "robot-project-filter", placeholder: "Filter projects by name" });
  const list = h("ul", { class: "project-choices", id: "robot-project-choices" });
  const summary = h("p", { class: "hint", id: "robot-projects-chosen" });
  const picker = h("div", { class: "project-picker", hidden: true }, filter, list, summary);
  let asked = 0;

  const describe = () => {
    summary.textContent = chosen.size ? `Chosen: ${[...chosen].sort().join(", ")}` : "No project chosen.";
  };
  async function search() {
    const mine = ++asked;
    const query = new URLSearchParams({ page_size: 20, sort: "name" });
    const text = filter.value.replaceAll(",", "").trim();
    if (text) query.set("q", `name=~${text}`);
    try {
      const { data } = await getJson(`${API}/projects?${query}`);
      if (mine !== asked) return; // a later search answered first, or will
      list.replaceChildren(
        ...data.map((p) => {
          const box = h("input", { type: "checkbox", "aria-label": `project ${p.name}` });
          box.checked = chosen.has(p.name);
          box.addEventListener("change", () => {
            if (box.checked) chosen.add(p.name);
            else chosen.delete(p.name);
            describe();
          });
          return h("li", {}, h("label", { class: "check" }, box, p.name));
        }),
      );
    } catch (err) {
      if (mine === asked) list.replaceChildren(h("li", { class: "notice error" }, failure("list the projects", err)));
    }
  }
  filter.addEventListener("input", search);
  all.addEventListener("change", () => {
    picker.hidden = all.checked;
    if (!all.checked) search();
  });
  describe();
  return {
    element: h("div", {}, h("label", { class: "check" }, all, "Cover all projects"), picker),
    namespaces: () => (all.checked ? [ALL_PROJECTS] : [...chosen].sort()),
  };
}

function robotForm({ level, project, status, onCreated, onCancel }) {
  const name = h("input", { id: "robot-name", required: true, maxlength: 255, autocomplete: "off" });
  const description = h("input", { id: "robot-description", class: "wide", autocomplete: "off" });
  const days = h("input", { type: "number", id: "robot-duration", min: 1, step: 1, class: "number" });
  days.value = String(DEFAULT_DAYS);
  const never = h("input", { type: "checkbox", id: "robot-never" });
  never.addEventListener("change", () => {
    days.disabled = never.checked;
  });
  const grids = h("div", { class: "perm-area" }, h("p", { class: "hint" }, "Loading the permissions…"));
  const submit = h("button", { type: "submit", id: "robot-create", disabled: true }, "Create");
  let projectGrid = null;
  let systemGrid = null;
  let picker = null;

  getJson(`${API}/permissions`).then(
    ({ data }) => {
      projectGrid = permissionGrid("project", data.project ?? []);
      const parts = [];
      if (level === "system") {
        systemGrid = permissionGrid("system", data.system ?? []);
        picker = projectPicker();
        parts.push(h("h3", {}, "System permissions"), systemGrid.element, h("h3", {}, "Project permissions"), picker.element);
      } else {
        parts.push(h("h3", {}, "Permissions"));
      }
      parts.push(projectGrid.element);
      grids.replaceChildren(...parts);
      submit.disabled = false;
    },
    (err) => grids.replaceChildren(h("p", { class: "notice error", role: "alert" }, failure("read the permissions", err))),
  );

  function permissions() {
    const access = projectGrid.access();
    if (level === "project") return [{ kind: "project", namespace: project.name, access }];
    const out = [];
    const system = systemGrid.access();
    if (system.length) out.push({ kind: "system", namespace: SYSTEM_NAMESPACE, access: system });
    if (access.length) for (const namespace of picker.namespaces()) out.push({ kind: "project", namespace, access });
    return out;
  }

  async function create(event) {
    event.preventDefault();
    status.clear();
    // The API judges the name, the duration and the permissions; its message is shown as it is.
    const body = {
      name: name.value.trim(),
      description: description.value,
      level,
      disable: false,
      duration: never.checked ? NEVER : Number(days.value),
      permissions: permissions(),
    };
    submit.disabled = true;
    try {
      const created = await (await request("POST", `${API}/robots`, body)).json();
      await onCreated(created);
    } catch (err) {
      status.show(failure("create the robot account", err), "error");
      submit.disabled = false;
    }
  }

  return h(
    "form",
    { class: "card robot-form", id: "robot-form", novalidate: true, onsubmit: create },
    h("h2", {}, level === "project" ? "New robot account" : "New system robot account"),
    h(
      "div",
      { class: "inline" },
      field("Name", name),
      field("Expiration (days)", days),
      h("label", { class: "check" }, never, "Never expires"),
      field("Description", description),
    ),
    grids,
    h(
      "div",
      { class: "toolbar buttons" },
      submit,
      h("button", { type: "button", class: "secondary", onclick: onCancel }, "Cancel"),
    ),
  );
}
