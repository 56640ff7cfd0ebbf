// The projects list: GET /api/v2.0/projects with a name filter and paging; a form that creates one.

import { API, getJson, request } from "./api.js";
import { field, formatTime, h, link, notice, pager } from "./dom.js";
import { roleName } from "./roles.js";

const PAGE_SIZE = 15;

export function projectsPage() {
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
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No projects.")));
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

  async function create(event) {
    event.preventDefault();
    status.clear();
    const projectName = name.value.trim();
    try {
      await request("POST", `${API}/projects`, {
        project_name: projectName,
        metadata: { public: isPublic.checked ? "true" : "false" },
      });
      status.show(`Project ${projectName} created.`);
      name.value = "";
      isPublic.checked = false;
      await load();
    } catch (err) {
      status.show(`Could not create the project: ${err.message}`, "error");
    }
  }

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
      h("button", { type: "submit" }, "Create project"),
    ),
    status,
    h("div", { class: "toolbar" }, filterInput),
    h(
      "table",
      { id: "projects" },
      h(
        "thead",
        {},
        h("tr", {}, ["Name", "Access", "My role", "Repositories", "Created"].map((t) => h("th", {}, t))),
      ),
      rows,
    ),
    paging,
  );
}

function projectRow(p) {
  return h(
    "tr",
    {},
    h("td", {}, link(`/harbor/projects/${Number(p.project_id)}/repositories`, p.name)),
    h("td", {}, p.metadata?.public === "true" ? "Public" : "Private"),
    h("td", {}, roleName(p.current_user_role_id)),
    h("td", {}, p.repo_count),
    h("td", {}, formatTime(p.creation_time)),
  );
}
