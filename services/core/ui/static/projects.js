// The projects list: GET /api/v2.0/projects with a name filter and paging; a form that creates one.
// The system administrator also sees each project's storage quota (GET /api/v2.0/quotas is theirs alone:
// one call per row of the page) and gives a new project its limit (storage_limit, which the API honours
// for them only), starting from the system's storage_per_project, as Harbor's New Project dialog does.
// The system administrator may also make it a proxy cache of one of the registry endpoints (registry_id).

import { API, getJson, request } from "./api.js";
import { failure, field, fieldFor, formatTime, h, link, notice, pager } from "./dom.js";
import { quotaBar, storageInput } from "./quotas.js";
import { roleName } from "./roles.js";

const PAGE_SIZE = 15;

export function projectsPage({ user }) {
  const sysadmin = user.sysadmin_flag === true;
  const columns = ["Name", "Access", "My role", "Repositories", ...(sysadmin ? ["Storage"] : []), "Created"];
  let page = 1;
  let filter = "";
  const status = notice();
  const rows = h("tbody");
  const paging = h("div");

  const filterInput = h("input", { type: "search", id: "project-filter", placeholder: "Filter by name" });
  filterInput.addEventListener("input", () => {
    // Commas separate terms in Harbor's q syntax; no project name has one.
    filter = filterInput.value.replaceAll(",", "").trim();
    page = 1;
    load();
  });

  async function load() {
    const query = new URLSearchParams({ page, page_size: PAGE_SIZE, sort: "name" });
    if (filter) query.set("q", `name=~${filter}`);
    try {
      const { data, total } = await getJson(`${API}/projects?${query}`);
      rows.replaceChildren(...data.map(projectRow));
      if (data.length === 0) {
        rows.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, "No projects.")));
      }
      paging.replaceChildren(
        pager(page, PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(`Could not list projects: ${err.message}`, "error");
    }
  }

  const name = h("input", { name: "project_name", id: "new-project-name", required: true, maxlength: 255 });
  const isPublic = h("input", { type: "checkbox", name: "public", id: "new-project-public" });
  const quota = sysadmin ? storageInput("new-project-quota", { unlimited: true }) : null;
  const isProxy = h("input", { type: "checkbox", name: "proxy_cache", id: "new-project-proxy" });
  const endpoint = h("select", { id: "new-project-registry", disabled: true });
  isProxy.addEventListener("change", () => {
    endpoint.disabled = !isProxy.checked;
  });

  async function loadEndpoints() {
    try {
      const { data } = await getJson(`${API}/registries?page_size=100`);
      endpoint.replaceChildren(...data.map((r) => h("option", { value: r.id }, `${r.name} (${r.url})`)));
      if (data.length === 0) {
        endpoint.append(h("option", { value: "" }, "No registry endpoints: add one under Registries"));
      }
    } catch (err) {
      status.show(failure("list the registry endpoints", err), "error");
    }
  }
  let defaultLimit = null; // storage_per_project, once read

  async function loadDefaultLimit() {
    try {
      const value = (await getJson(`${API}/configurations`)).data.storage_per_project?.value;
      if (typeof value !== "number") return;
      defaultLimit = value;
      quota.write(value);
    } catch (err) {
      status.show(failure("read the default storage quota", err), "error");
    }
  }

  function projectRow(p) {
    const id = Number(p.project_id);
    const storage = sysadmin ? h("td", { class: "storage" }) : null;
    if (storage) fillStorage(storage, id);
    return h(
      "tr",
      { "data-name": p.name },
      h(
        "td",
        {},
        link(`/harbor/projects/${id}/repositories`, p.name),
        p.registry_id ? h("span", { class: "badge proxy-cache" }, "Proxy cache") : null,
      ),
      h("td", {}, p.metadata?.public === "true" ? "Public" : "Private"),
      h("td", {}, roleName(p.current_user_role_id)),
      h("td", {}, p.repo_count),
      storage,
      h("td", {}, formatTime(p.creation_time)),
    );
  }

  async function fillStorage(cell, projectId) {
    const query = new URLSearchParams({ reference: "project", reference_id: projectId });
    try {
      const [q] = (await getJson(`${API}/quotas?${query}`)).data;
      if (q) cell.replaceChildren(quotaBar(q.used.storage, q.hard.storage));
    } catch (err) {
      status.show(failure("read the quotas", err), "error");
    }
  }

  async function create(event) {
    event.preventDefault();
    status.clear();
    const projectName = name.value.trim();
    const body = { project_name: projectName, metadata: { public: isPublic.checked ? "true" : "false" } };
    // Left empty (or not read yet), the API gives the default.
    const limit = quota?.read() ?? null;
    if (limit !== null) body.storage_limit = limit;
    if (isProxy.checked && endpoint.value) body.registry_id = Number(endpoint.value);
    try {
      await request("POST", `${API}/projects`, body);
      status.show(`Project ${projectName} created.`);
      name.value = "";
      isPublic.checked = false;
      isProxy.checked = false;
      endpoint.disabled = true;
      if (defaultLimit !== null) quota.write(defaultLimit);
      await load();
    } catch (err) {
      status.show(`Could not create the project: ${err.message}`, "error");
    }
  }

  if (quota) loadDefaultLimit();
  if (sysadmin) loadEndpoints();
  load();
  return h(
    "section",
    { class: "projects" },
    h("h1", {}, "Projects"),
    h(
      "form",
      { class: "inline card", id: "new-project", onsubmit: create },
      h("h2", {}, "New project"),
      field("Name", name),
      h("label", { class: "check" }, isPublic, "Public (anyone may pull)"),
      quota ? fieldFor("Storage quota", "new-project-quota", quota.element) : null,
      sysadmin ? h("label", { class: "check" }, isProxy, "Proxy Cache (pulls fetch from a registry endpoint)") : null,
      sysadmin ? fieldFor("Registry endpoint", "new-project-registry", endpoint) : null,
      h("button", { type: "submit" }, "Create project"),
    ),
    status,
    h("div", { class: "toolbar" }, filterInput),
    h(
      "table",
      { id: "projects" },
      h("thead", {}, h("tr", {}, columns.map((t) => h("th", {}, t)))),
      rows,
    ),
    paging,
  );
}

