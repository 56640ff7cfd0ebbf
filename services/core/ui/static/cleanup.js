// Administration › Clean Up, as Harbor draws it: Garbage Collection and Log Rotation (the audit log purge),
// each one system job under /api/v2.0/system/<job>: run it now or as a dry run, schedule it by cron, and
// its runs' history with their logs and a Stop for those still pending or running. The schedule editor and
// the history's polling are runs.js's.

import { API, createdId, getJson, request } from "./api.js";
import { failure, field, formatTime, h, link, notice, pager } from "./dom.js";
import { ACTIVE, polledHistory, scheduleEditor, statusCell, stopButton } from "./runs.js";

const TABS = [
  ["gc", "Garbage Collection"],
  ["audit-log-purge", "Log Rotation"],
];
const HISTORY_PAGE_SIZE = 10;
const MAX_GC_WORKERS = 5;
const HOURS_PER_DAY = 24;

// A page's tabs as links (the router draws the tab the path names): [[key, label], ...] under `base`.
export function tabNav(id, label, base, tabs, current) {
  return h(
    "nav",
    { class: "tabs", id, "aria-label": label },
    tabs.map(([key, text]) => {
      const a = link(`${base}/${key}`, text);
      if (key === current) a.setAttribute("aria-current", "page");
      return a;
    }),
  );
}

export function cleanupPage({ params }) {
  const tab = params[0] ?? "gc";
  return h(
    "section",
    { class: "cleanup" },
    h("h1", {}, "Clean Up"),
    tabNav("cleanup-tabs", "clean up", "/harbor/clearing-job", TABS, tab),
    tab === "audit-log-purge" ? purgeTab() : gcTab(),
  );
}

// Harbor's job_parameters is a JSON string; anything unreadable counts as no parameters.
function jobParameters(text) {
  try {
    const parsed = JSON.parse(text || "{}");
    return parsed !== null && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

function gcTab() {
  const deleteUntagged = h("input", { type: "checkbox", id: "gc-delete-untagged" });
  const workers = h(
    "select",
    { id: "gc-workers" },
    Array.from({ length: MAX_GC_WORKERS }, (_, i) => h("option", { value: i + 1 }, String(i + 1))),
  );
  return systemJobTab({
    id: "gc",
    base: `${API}/system/gc`,
    what: "garbage collection",
    runLabel: "GC Now",
    fields: [
      h("label", { class: "check" }, deleteUntagged, "Delete untagged artifacts"),
      field("Workers", workers),
      h("p", { class: "hint" }, "GC deletes the blobs no artifact refers to; the registry stays writable meanwhile."),
    ],
    parameters: (dryRun) => ({
      delete_untagged: deleteUntagged.checked,
      dry_run: dryRun,
      workers: Number(workers.value),
    }),
    fill: (p) => {
      deleteUntagged.checked = p.delete_untagged === true;
      if (Number.isInteger(p.workers)) workers.value = String(p.workers);
    },
  });
}

function purgeTab() {
  const retention = h("input", { type: "number", id: "purge-retention", min: 1, step: 1, value: 30, required: true });
  const unit = h(
    "select",
    { id: "purge-retention-unit" },
    h("option", { value: "days" }, "Days"),
    h("option", { value: "hours" }, "Hours"),
  );
  const types = h("fieldset", { class: "checks", id: "purge-event-types" }, h("legend", {}, "Included event types"));
  // The event types to check once their list is in (a schedule's parameters may come first); null: all.
  let wanted = null;
  const boxes = () => [...types.querySelectorAll("input[type=checkbox]")];
  const applyWanted = () => {
    for (const box of boxes()) box.checked = wanted === null || wanted.has(box.value);
  };

  getJson(`${API}/auditlog-exts/events`).then(
    ({ data }) => {
      types.append(
        ...data.map((e) =>
          h("label", { class: "check" }, h("input", { type: "checkbox", value: e.event_type }), e.event_type),
        ),
      );
      applyWanted();
    },
    (err) => types.append(h("p", { class: "notice error", role: "alert" }, failure("list the event types", err))),
  );

  return systemJobTab({
    id: "purge",
    base: `${API}/system/purgeaudit`,
    what: "the audit log purge",
    runLabel: "Purge Now",
    fields: [
      field("Keep records in", retention),
      field("Unit", unit),
      types,
      h("p", { class: "hint" }, "Audit log entries of the checked types older than this are deleted."),
    ],
    parameters: (dryRun) => ({
      audit_retention_hour: Number(retention.value) * (unit.value === "days" ? HOURS_PER_DAY : 1),
      include_event_types: boxes()
        .filter((b) => b.checked)
        .map((b) => b.value)
        .join(","),
      dry_run: dryRun,
    }),
    fill: (p) => {
      const hours = p.audit_retention_hour;
      if (Number.isInteger(hours)) {
        const days = hours % HOURS_PER_DAY === 0;
        unit.value = days ? "days" : "hours";
        retention.value = String(days ? hours / HOURS_PER_DAY : hours);
      }
      if (typeof p.include_event_types === "string") {
        wanted = new Set(p.include_event_types.split(",").filter(Boolean));
        applyWanted();
      }
    },
  });
}

// One system job's tab. `fields` are its parameters' inputs, `parameters(dryRun)` reads them into Harbor's
// parameters object and `fill(p)` sets them from the schedule's.
function systemJobTab({ id, base, what, runLabel, fields, parameters, fill }) {
  // The history's page.
  let page = 1;
  const status = notice();
  status.id = `${id}-status`;

  async function run(dryRun) {
    status.clear();
    try {
      const response = await request("POST", `${base}/schedule`, {
        schedule: { type: "Manual" },
        parameters: parameters(dryRun),
      });
      const jobId = createdId(response);
      status.show(`${dryRun ? "Dry run" : "Run"} ${jobId} of ${what} started.`);
      page = 1;
      await loadHistory();
    } catch (err) {
      status.show(failure(`start ${what}`, err), "error");
    }
  }

  // Its buttons say which run they start; Enter in a field starts none.
  const runForm = h(
    "form",
    { class: "inline card", id: `${id}-run`, onsubmit: (event) => event.preventDefault() },
    h("h2", {}, "Parameters"),
    fields,
    h("button", { type: "button", id: `${id}-now`, onclick: () => run(false) }, runLabel),
    h("button", { type: "button", id: `${id}-dry-run`, onclick: () => run(true) }, "Dry Run"),
  );

  // The schedule: what is set now (with its next run) and an editor.
  const scheduleStatus = notice();
  scheduleStatus.id = `${id}-schedule-status`;
  const current = h("p", { id: `${id}-schedule-current` });
  const editor = scheduleEditor(`${id}-schedule`);

  async function loadSchedule() {
    try {
      const { data } = await getJson(`${base}/schedule`);
      const schedule = data?.schedule;
      if (!schedule?.type || schedule.type === "None") {
        current.replaceChildren("No schedule.");
        editor.set("None", "");
      } else {
        editor.set(schedule.type === "Schedule" ? "Custom" : schedule.type, schedule.cron);
        current.replaceChildren(
          h("span", {}, `Schedule: ${schedule.type} (${schedule.cron ?? ""})`),
          " · Next run: ",
          h("span", { id: `${id}-next-run` }, formatTime(schedule.next_scheduled_time)),
        );
        fill(jobParameters(data.job_parameters));
      }
    } catch (err) {
      scheduleStatus.show(failure(`read the schedule of ${what}`, err), "error");
    }
  }

  async function saveSchedule(event) {
    event.preventDefault();
    scheduleStatus.clear();
    const type = editor.type();
    const expression = editor.cron();
    try {
      await request("PUT", `${base}/schedule`, {
        schedule: { type, cron: expression },
        parameters: parameters(false),
      });
      scheduleStatus.show(type === "None" ? "Schedule removed." : "Schedule saved.");
      await loadSchedule();
    } catch (err) {
      scheduleStatus.show(failure(`schedule ${what}`, err), "error");
    }
  }

  const scheduleForm = h(
    "form",
    { class: "inline card", id: `${id}-schedule`, onsubmit: saveSchedule },
    h("h2", {}, "Schedule"),
    current,
    editor.fields,
    h("button", { type: "submit" }, "Save"),
    scheduleStatus,
  );

  // The history, polled while a run is pending or running.
  const rows = h("tbody");
  const paging = h("div");
  const section = h(
    "div",
    { class: "system-job" },
    runForm,
    status,
    scheduleForm,
    h("h2", {}, "History"),
    h(
      "table",
      { id: `${id}-history` },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Job ID", "Trigger", "Dry run", "Status", "Created", "Updated", "Logs", ""].map((t) => h("th", {}, t)),
        ),
      ),
      rows,
    ),
    paging,
  );

  const loadHistory = polledHistory({
    owner: section,
    fetch: () => getJson(`${base}?${new URLSearchParams({ page, page_size: HISTORY_PAGE_SIZE })}`),
    render: ({ data, total }) => {
      rows.replaceChildren(...data.map(runRow));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No runs yet.")));
      paging.replaceChildren(
        pager(page, HISTORY_PAGE_SIZE, total, (p) => {
          page = p;
          loadHistory();
        }),
      );
    },
    active: ({ data }) => data.some((r) => ACTIVE.has(r.job_status)),
    fail: (err) => status.show(failure(`list the runs of ${what}`, err), "error"),
  });

  function runRow(r) {
    const runId = Number(r.id);
    const dryRun = jobParameters(r.job_parameters).dry_run === true;
    return h(
      "tr",
      { "data-id": runId },
      h("td", {}, String(runId)),
      h("td", {}, r.job_kind === "SCHEDULE" ? "Schedule" : "Manual"),
      h("td", {}, dryRun ? "Yes" : "No"),
      statusCell(r.job_status),
      h("td", {}, formatTime(r.creation_time)),
      h("td", {}, formatTime(r.update_time)),
      h("td", {}, h("a", { href: `${base}/${runId}/log`, target: "_blank", rel: "noopener" }, "Log")),
      h(
        "td",
        {},
        stopButton({
          runId,
          state: r.job_status,
          send: () => request("PUT", `${base}/${runId}`),
          status,
          reload: loadHistory,
        }),
      ),
    );
  }

  loadSchedule();
  loadHistory();
  return section;
}
