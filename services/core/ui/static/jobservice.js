// Administration › Job Service Dashboard, as Harbor draws it: Pending Jobs (the queues per job type, each
// stopped, paused or resumed, or all at once), Schedules (every schedule, and pausing them all) and
// Workers (the jobservice's worker pools, what each worker runs, stopping a running job, its log).

import { API, getJson, request } from "./api.js";
import { tabNav } from "./cleanup.js";
import { failure, field, formatTime, h, notice, pager } from "./dom.js";

const TABS = [
  ["pending-jobs", "Pending Jobs"],
  ["schedules", "Schedules"],
  ["workers", "Workers"],
];
const BASE = `${API}/jobservice`;
const ALL = "all"; // Harbor's name for every queue, every pool
// Harbor's queue of the scheduler itself: pausing it pauses every schedule.
const SCHEDULER = "SCHEDULER";
const SCHEDULES_PAGE_SIZE = 15;

export function jobServicePage({ params }) {
  const tab = params[0] ?? "pending-jobs";
  const body = tab === "schedules" ? schedulesTab() : tab === "workers" ? workersTab() : pendingJobsTab();
  return h(
    "section",
    { class: "job-service" },
    h("h1", {}, "Job Service Dashboard"),
    tabNav("job-service-tabs", "job service", "/harbor/job-service-dashboard", TABS, tab),
    body,
  );
}

// 75 → "1 min 15 s": how long the oldest pending job has waited.
function formatLatency(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function refreshButton(id, load) {
  return h("button", { type: "button", id, onclick: load }, "Refresh");
}

// The queues (GET /jobservice/queues), with Harbor's Stop, Pause and Resume for the checked ones or all.
function pendingJobsTab() {
  const status = notice();
  status.id = "queues-status";
  const rows = h("tbody");
  const selected = new Set();
  const needsSelection = [];

  function updateButtons() {
    for (const button of needsSelection) button.disabled = selected.size === 0;
  }

  async function load() {
    try {
      const { data } = await getJson(`${BASE}/queues`);
      const types = new Set(data.map((q) => q.job_type));
      for (const t of [...selected]) if (!types.has(t)) selected.delete(t);
      rows.replaceChildren(...data.map(queueRow));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No job queues.")));
    } catch (err) {
      status.show(failure("list the job queues", err), "error");
    }
    updateButtons();
  }

  function queueRow(q) {
    const box = h("input", {
      type: "checkbox",
      "aria-label": `Select ${q.job_type}`,
      checked: selected.has(q.job_type),
    });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(q.job_type);
      else selected.delete(q.job_type);
      updateButtons();
    });
    return h(
      "tr",
      { "data-job-type": q.job_type },
      h("td", {}, box),
      h("td", {}, q.job_type),
      h("td", { class: "num count" }, String(q.count)),
      h("td", { class: "num" }, formatLatency(q.latency)),
      h("td", { class: "paused" }, q.paused ? "Paused" : "Running"),
    );
  }

  // `types`: the queues to act on (["all"] for every one).
  async function act(action, types) {
    status.clear();
    const names = types[0] === ALL ? "every queue" : types.join(", ");
    if (action === "stop" && !window.confirm(`Stop every pending job of ${names}?`)) return;
    try {
      for (const t of types) await request("PUT", `${BASE}/queues/${encodeURIComponent(t)}`, { action });
      const done = { stop: "Pending jobs stopped", pause: "Paused", resume: "Resumed" }[action];
      status.show(`${done}: ${names}.`);
    } catch (err) {
      status.show(failure(`${action} ${names}`, err), "error");
    }
    await load();
  }

  const onSelected = (label, action, danger = false) => {
    const button = h(
      "button",
      { type: "button", class: danger ? "danger" : null, onclick: () => act(action, [...selected]) },
      label,
    );
    needsSelection.push(button);
    return button;
  };
  const onAll = (label, action, danger = false) =>
    h("button", { type: "button", class: danger ? "danger" : null, onclick: () => act(action, [ALL]) }, label);

  load();
  return h(
    "div",
    {},
    h(
      "div",
      { class: "toolbar buttons", id: "queue-actions" },
      onSelected("Stop", "stop", true),
      onSelected("Pause", "pause"),
      onSelected("Resume", "resume"),
      h("span", { class: "gap" }),
      onAll("Stop all", "stop", true),
      onAll("Pause all", "pause"),
      onAll("Resume all", "resume"),
      refreshButton("queues-refresh", load),
    ),
    status,
    h(
      "table",
      { id: "queues" },
      h("thead", {}, h("tr", {}, ["", "Job type", "Pending", "Latency", "Status"].map((t) => h("th", {}, t)))),
      rows,
    ),
  );
}

// Every schedule (GET /schedules), and pausing or resuming them all (the SCHEDULER queue).
function schedulesTab() {
  let page = 1;
  let paused = null;
  const status = notice();
  status.id = "schedules-status";
  const state = h("span", { id: "scheduler-state" });
  const toggle = h("button", { type: "button", id: "scheduler-toggle", disabled: true, onclick: flip }, "Pause all");
  const rows = h("tbody");
  const paging = h("div");

  async function loadState() {
    try {
      paused = (await getJson(`${API}/schedules/${ALL}/paused`)).data.paused === true;
      state.textContent = paused ? "Schedules are paused: none fires until they are resumed." : "Schedules run.";
      toggle.textContent = paused ? "Resume all" : "Pause all";
      toggle.disabled = false;
    } catch (err) {
      status.show(failure("read whether the schedules are paused", err), "error");
    }
  }

  async function flip() {
    status.clear();
    const action = paused ? "resume" : "pause";
    try {
      await request("PUT", `${BASE}/queues/${SCHEDULER}`, { action });
      status.show(action === "pause" ? "Every schedule is paused." : "Every schedule is resumed.");
    } catch (err) {
      status.show(failure(`${action} the schedules`, err), "error");
    }
    await loadState();
  }

  async function load() {
    const query = new URLSearchParams({ page, page_size: SCHEDULES_PAGE_SIZE });
    try {
      const { data, total } = await getJson(`${API}/schedules?${query}`);
      rows.replaceChildren(
        ...data.map((s) =>
          h(
            "tr",
            { "data-id": Number(s.id) },
            [String(s.id), s.vendor_type, String(s.vendor_id), s.cron, formatTime(s.update_time)].map((t) =>
              h("td", {}, t),
            ),
          ),
        ),
      );
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No schedules.")));
      paging.replaceChildren(
        pager(page, SCHEDULES_PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(failure("list the schedules", err), "error");
    }
  }

  const refresh = () => Promise.all([loadState(), load()]);
  refresh();
  return h(
    "div",
    {},
    h(
      "div",
      { class: "toolbar buttons" },
      toggle,
      state,
      h("span", { class: "gap" }),
      refreshButton("schedules-refresh", refresh),
    ),
    status,
    h(
      "table",
      { id: "schedules" },
      h("thead", {}, h("tr", {}, ["ID", "Vendor type", "Vendor ID", "Cron", "Updated"].map((t) => h("th", {}, t)))),
      rows,
    ),
    paging,
  );
}

// The worker pools (GET /jobservice/pools) and the workers of the one chosen, or of all.
function workersTab() {
  const status = notice();
  status.id = "workers-status";
  const poolRows = h("tbody");
  const workerRows = h("tbody");
  const choice = h("select", { id: "worker-pool" }, h("option", { value: ALL }, "All pools"));
  choice.addEventListener("change", loadWorkers);

  async function loadPools() {
    try {
      const { data } = await getJson(`${BASE}/pools`);
      poolRows.replaceChildren(...data.map(poolRow));
      if (data.length === 0) {
        poolRows.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No worker pool is running.")));
      }
      const chosen = choice.value;
      choice.replaceChildren(
        h("option", { value: ALL }, "All pools"),
        ...data.map((p) => h("option", { value: p.worker_pool_id }, p.worker_pool_id)),
      );
      choice.value = data.some((p) => p.worker_pool_id === chosen) ? chosen : ALL;
    } catch (err) {
      status.show(failure("list the worker pools", err), "error");
    }
  }

  function poolRow(p) {
    const show = () => {
      choice.value = p.worker_pool_id;
      loadWorkers();
    };
    return h(
      "tr",
      { "data-pool": p.worker_pool_id },
      h("td", {}, p.worker_pool_id),
      h("td", { class: "num" }, String(p.pid)),
      h("td", {}, p.host),
      h("td", { class: "num" }, String(p.concurrency)),
      h("td", {}, formatTime(p.start_at)),
      h("td", {}, formatTime(p.heartbeat_at)),
      h("td", {}, h("button", { type: "button", onclick: show }, "Workers")),
    );
  }

  async function loadWorkers() {
    try {
      const { data } = await getJson(`${BASE}/pools/${encodeURIComponent(choice.value)}/workers`);
      workerRows.replaceChildren(...data.map(workerRow));
      if (data.length === 0) workerRows.append(h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No workers.")));
    } catch (err) {
      status.show(failure("list the workers", err), "error");
    }
  }

  function workerRow(w) {
    const busy = Boolean(w.job_id);
    const stop = async () => {
      status.clear();
      try {
        await request("PUT", `${BASE}/jobs/${encodeURIComponent(w.job_id)}`, { action: "stop" });
        status.show(`Stop of job ${w.job_id} requested.`);
      } catch (err) {
        status.show(failure(`stop job ${w.job_id}`, err), "error");
      }
      await loadWorkers();
    };
    const log = busy
      ? h("a", { href: `${BASE}/jobs/${encodeURIComponent(w.job_id)}/log`, target: "_blank", rel: "noopener" }, "Log")
      : "";
    return h(
      "tr",
      { "data-worker": w.id },
      h("td", {}, w.id),
      h("td", {}, w.pool_id),
      h("td", {}, busy ? w.job_name : "Idle"),
      h("td", {}, w.job_id),
      h("td", {}, busy ? formatTime(w.start_at) : ""),
      h("td", {}, w.check_in),
      h("td", {}, formatTime(w.checkin_at)),
      h("td", {}, log),
      h("td", {}, busy ? h("button", { type: "button", class: "danger", onclick: stop }, "Stop") : ""),
    );
  }

  const refresh = async () => {
    await loadPools();
    await loadWorkers();
  };
  refresh();
  return h(
    "div",
    {},
    h("div", { class: "toolbar buttons" }, h("span", { class: "gap" }), refreshButton("workers-refresh", refresh)),
    status,
    h("h2", {}, "Worker pools"),
    h(
      "table",
      { id: "pools" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Pool ID", "PID", "Host", "Concurrency", "Started", "Heartbeat", ""].map((t) => h("th", {}, t)),
        ),
      ),
      poolRows,
    ),
    h("h2", {}, "Workers"),
    h("div", { class: "toolbar buttons" }, field("Pool", choice)),
    h(
      "table",
      { id: "workers" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Worker ID", "Pool", "Job", "Job ID", "Started", "Check-in", "Checked in", "Log", ""].map((t) =>
            h("th", {}, t),
          ),
        ),
      ),
      workerRows,
    ),
  );
}
