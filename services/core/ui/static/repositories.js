// A project's repositories tab: GET /api/v2.0/projects/{id}/repositories with a name filter and paging;
// deleting one asks first, and the API decides who may (its 403 is shown as a message).

import { API, getJson, request } from "./api.js";
import { failure, formatTime, h, link, notice, pager } from "./dom.js";
import { projectPermissions } from "./permissions.js";

const PAGE_SIZE = 15;

// The API names a repository by its path inside the project, with any `/` encoded twice.
export function repositoryApi(projectId, name) {
  return `${API}/projects/${Number(projectId)}/repositories/${encodeURIComponent(encodeURIComponent(name))}`;
}

// The UI's page of a repository keeps the slashes: /harbor/projects/3/repositories/apps/web.
export function repositoryHref(projectId, name) {
  return `/harbor/projects/${Number(projectId)}/repositories/${name.split("/").map(encodeURIComponent).join("/")}`;
}

// "library/apps/web" in project "library" is "apps/web".
export function inProject(projectName, fullName) {
  return fullName.startsWith(`${projectName}/`) ? fullName.slice(projectName.length + 1) : fullName;
}

export function repositoriesTab({ project }) {
  let page = 1;
  let filter = "";
  const status = notice();
  const rows = h("tbody");
  const paging = h("div");

  const filterInput = h("input", { type: "search", id: "repo-filter", placeholder: "Filter by name" });
  filterInput.addEventListener("input", () => {
    filter = filterInput.value.replaceAll(",", "").trim();
    page = 1;
    load();
  });

  async function load() {
    const query = new URLSearchParams({ page, page_size: PAGE_SIZE });
    if (filter) query.set("q", `name=~${filter}`);
    try {
      const [{ data, total }, may] = await Promise.all([
        getJson(`${API}/projects/${Number(project.project_id)}/repositories?${query}`),
        projectPermissions(project.project_id),
      ]);
      rows.replaceChildren(...data.map((r) => repositoryRow(r, may)));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No repositories.")));
      paging.replaceChildren(
        pager(page, PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(failure("list the repositories", err), "error");
    }
  }

  function repositoryRow(r, may) {
    const name = inProject(project.name, r.name);
    const remove = async () => {
      if (!window.confirm(`Delete the repository ${r.name} and all its artifacts?`)) return;
      try {
        await request("DELETE", repositoryApi(project.project_id, name));
        status.show(`Repository ${r.name} deleted.`);
        await load();
      } catch (err) {
        status.show(failure(`delete ${r.name}`, err), "error");
      }
    };
    return h(
      "tr",
      {},
      h("td", {}, link(repositoryHref(project.project_id, name), r.name)),
      h("td", { class: "num" }, r.artifact_count),
      h("td", { class: "num" }, r.pull_count),
      h("td", {}, formatTime(r.update_time)),
      h(
        "td",
        {},
        may("repository", "delete") ? h("button", { type: "button", class: "danger", onclick: remove }, "Delete") : "",
      ),
    );
  }

  load();
  return h(
    "div",
    {},
    h("h2", {}, "Repositories"),
    status,
    h("div", { class: "toolbar" }, filterInput),
    h(
      "table",
      { id: "repositories" },
      h(
        "thead",
        {},
        h("tr", {}, ["Name", "Artifacts", "Pulls", "Last modified", ""].map((t) => h("th", {}, t))),
      ),
      rows,
    ),
    paging,
  );
}
