// The header's search box: GET /api/v2.0/search?q= as one types, with links to the projects and
// repositories it finds.

import { API, getJson } from "./api.js";
import { h, link } from "./dom.js";
import { inProject, repositoryHref } from "./repositories.js";

export function searchBox() {
  const input = h("input", {
    type: "search",
    id: "global-search",
    placeholder: "Search projects and repositories",
    "aria-label": "Search",
    autocomplete: "off",
  });
  const results = h("div", { class: "search-results", id: "search-results", hidden: true });
  let asked = 0; // answers to older queries are dropped
  let timer = null;

  async function search() {
    const q = input.value.trim();
    const mine = ++asked;
    if (!q) {
      results.hidden = true;
      return;
    }
    let found;
    try {
      found = (await getJson(`${API}/search?${new URLSearchParams({ q })}`)).data;
    } catch (err) {
      found = { error: err.message };
    }
    if (mine !== asked) return;
    results.replaceChildren(...render(found));
    results.hidden = false;
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") results.hidden = true;
  });
  return h("div", { class: "search", role: "search" }, input, results);
}

function render(found) {
  if (found.error) return [h("p", { class: "notice error" }, `Search failed: ${found.error}`)];
  const projects = found.project ?? [];
  const repositories = found.repository ?? [];
  if (projects.length === 0 && repositories.length === 0) return [h("p", { class: "empty" }, "Nothing found.")];
  const section = (heading, items) =>
    items.length === 0 ? null : [h("h3", {}, heading), h("ul", {}, items.map((item) => h("li", {}, item)))];
  return [
    section(
      "Projects",
      projects.map((p) => link(`/harbor/projects/${Number(p.project_id)}/repositories`, p.name)),
    ),
    section(
      "Repositories",
      repositories.map((r) =>
        link(repositoryHref(r.project_id, inProject(r.project_name, r.repository_name)), r.repository_name),
      ),
    ),
  ]
    .flat()
    .filter(Boolean);
}
