// Audit logs, newest first, in pages: a project's Logs tab (GET /api/v2.0/projects/{id}/logs) and the Logs
// page of the sidebar (GET /api/v2.0/audit-logs: every entry for the system administrator, those of their
// projects for a project admin, none for anyone else), where a filter narrows them by user, operation,
// resource type or resource (Harbor's q syntax, a fuzzy match).

import { API, getJson } from "./api.js";
import { failure, formatTime, h, notice, pager } from "./dom.js";

const PAGE_SIZE = 15;
const FILTERS = [
  ["username", "User"],
  ["operation", "Operation"],
  ["resource_type", "Resource type"],
  ["resource", "Resource"],
];

function auditTable({ id, url, what, filterable = false }) {
  let page = 1;
  let term = null; // [key, text] while a filter is set
  const status = notice();
  const rows = h("tbody");
  const paging = h("div");

  async function load() {
    const query = new URLSearchParams({ page, page_size: PAGE_SIZE, sort: "-op_time" });
    // Commas separate terms in Harbor's q syntax; none of these fields needs one to be found.
    if (term) query.set("q", `${term[0]}=~${term[1].replaceAll(",", "")}`);
    try {
      const { data, total } = await getJson(`${url}?${query}`);
      rows.replaceChildren(
        ...data.map((e) =>
          h(
            "tr",
            {},
            [formatTime(e.op_time), e.username, e.operation, e.resource_type, e.resource].map((t) => h("td", {}, t)),
          ),
        ),
      );
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No log entries.")));
      paging.replaceChildren(
        pager(page, PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(failure(`read ${what}`, err), "error");
    }
  }

  let filter = null;
  if (filterable) {
    const key = h("select", { id: `${id}-filter-key`, "aria-label": "Filter by" });
    key.replaceChildren(...FILTERS.map(([value, label]) => h("option", { value }, label)));
    const text = h("input", { type: "search", id: `${id}-filter`, placeholder: "Filter", "aria-label": "Filter text" });
    const apply = () => {
      const value = text.value.trim();
      term = value ? [key.value, value] : null;
      page = 1;
      load();
    };
    text.addEventListener("input", apply);
    key.addEventListener("change", apply);
    filter = h("div", { class: "toolbar" }, key, text);
  }

  load();
  return [
    status,
    filter,
    h(
      "table",
      { id },
      h(
        "thead",
        {},
        h("tr", {}, ["Time", "User", "Operation", "Resource type", "Resource"].map((t) => h("th", {}, t))),
      ),
      rows,
    ),
    paging,
  ];
}

export function logsTab({ project }) {
  const url = `${API}/projects/${Number(project.project_id)}/logs`;
  return h("div", {}, h("h2", {}, "Logs"), ...auditTable({ id: "logs", url, what: "the project's logs" }));
}

export function auditLogsPage() {
  const url = `${API}/audit-logs`;
  return h(
    "section",
    { class: "audit-logs" },
    h("h1", {}, "Logs"),
    ...auditTable({ id: "audit-logs", url, what: "the audit log", filterable: true }),
  );
}
