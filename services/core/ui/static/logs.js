// A project's logs tab: its audit log (GET /api/v2.0/projects/{id}/logs), newest first, in pages.

import { API, getJson } from "./api.js";
import { failure, formatTime, h, notice, pager } from "./dom.js";

const PAGE_SIZE = 15;

export function logsTab({ project }) {
  let page = 1;
  const status = notice();
  const rows = h("tbody");
  const paging = h("div");

  async function load() {
    const query = new URLSearchParams({ page, page_size: PAGE_SIZE, sort: "-op_time" });
    try {
      const { data, total } = await getJson(`${API}/projects/${Number(project.project_id)}/logs?${query}`);
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
      status.show(failure("read the project's logs", err), "error");
    }
  }

  load();
  return h(
    "div",
    {},
    h("h2", {}, "Logs"),
    status,
    h(
      "table",
      { id: "logs" },
      h(
        "thead",
        {},
        h("tr", {}, ["Time", "User", "Operation", "Resource type", "Resource"].map((t) => h("th", {}, t))),
      ),
      rows,
    ),
    paging,
  );
}
