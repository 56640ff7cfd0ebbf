// A project's Tag Retention, in its Policy tab (policy.js), as Harbor draws it. The project's one policy is
// GET /api/v2.0/retentions/{id}, the id its retention_id metadata names; with none yet, adding the first
// rule creates it (POST /retentions), and every later change (a rule added, edited, disabled, enabled or
// deleted, the schedule) PUTs the whole policy back with only that changed, as Harbor's UI does. Each rule
// is worded as Harbor words it, its template one of GET /retentions/metadatas. DRY RUN and RUN NOW (which
// asks first) start a run; the runs' history is read again while one is pending or running, under each
// run its tasks (one a repository) open with their logs, and a run still going can be stopped. The API
// judges every value, and its message is shown as it is.

import { API, createdId, getJson, request } from "./api.js";
import { failure, field, formDialog, formatDuration, formatTime, h, notice, numberValue, pager } from "./dom.js";
import {
  MAX_RULES,
  noRules,
  repositoryWords,
  ruleRow,
  ruleTable,
  selectorFields,
  tagSelector,
  tagWords,
} from "./rules.js";
import { ACTIVE, polledHistory, scheduleEditor, scheduleTypeOf, statusCell, stopButton } from "./runs.js";

const RETENTIONS = `${API}/retentions`;
const HISTORY_PAGE_SIZE = 10;
const TASKS_PAGE_SIZE = 10;
const ACTION = "retain";
const DEFAULT_TEMPLATE = "latestPushedK";
// Harbor's words for its templates in a rule (its TAG_RETENTION.RULE_NAME_* texts), "#" standing for the
// rule's number; a template without words here is shown by the metadata's display_text.
const TEMPLATE_WORDS = {
  latestPushedK: "the most recently pushed # artifacts",
  latestPulledN: "the most recently pulled # artifacts",
  nDaysSinceLastPush: "the artifacts pushed within the last # days",
  nDaysSinceLastPull: "the artifacts pulled within the last # days",
  always: "always",
  nothing: "none",
};
const UNITS = { COUNT: "Count", DAYS: "Days" };
const TRIGGERS = { MANUAL: "Manual", SCHEDULE: "Schedule" };
const RUN_WARNING =
  "Executing the retention policy deletes the artifacts its rules do not retain, and cannot be undone." +
  " Press Cancel and use DRY RUN to see what it would delete, or OK to run it now.";

function templateWords(name, metadata, number) {
  const words = TEMPLATE_WORDS[name] ?? metadata?.display_text ?? String(name ?? "");
  return number === undefined || number === null ? words : words.replace("#", String(number));
}

// Harbor's extras flag: whether untagged artifacts count as matching the tag pattern. Without it, the
// API's default (kept for policies written before the flag): matching keeps them in play.
function untaggedOf(selector) {
  try {
    const flag = JSON.parse(selector?.extras || "{}").untagged;
    if (typeof flag === "boolean") return flag;
  } catch {
    // Unreadable extras: the default, as the API reads them.
  }
  return selector?.decoration === "matches";
}

export function retentionSection({ project }) {
  const projectId = Number(project.project_id);
  // The project's policy: its id (null: none yet) and GET /retentions/{id} (null until read).
  let policyId = Number(project.metadata?.retention_id) || null;
  let policy = null;
  // The templates come with the policy; until both are read, no rule can be added.
  let templates = [];
  let loaded = false;
  let shownCron = null;
  let page = 1;
  let runs = [];
  // The runs whose tasks are open: id → { page, view, state } (the task list drawn, for the run's status).
  const opened = new Map();

  const section = h("section", { id: "tag-retention", "aria-labelledby": "tag-retention-title" });
  const status = notice();
  status.id = "retention-status";
  const count = h("span", { class: "count", id: "retention-count" });
  const rows = h("tbody");
  const add = h("button", { type: "button", id: "add-retention-rule", onclick: () => ruleDialog(null) }, "Add rule");

  const templateOf = (name) => templates.find((t) => t.rule_template === name);
  const unitOf = (name) => templateOf(name)?.params?.[0]?.unit ?? null;

  function describe(rule) {
    const tag = tagSelector(rule);
    const number = rule.params?.[rule.template];
    let untagged = "";
    // With `excludes`, the flag excludes untagged artifacts too.
    if (untaggedOf(tag)) {
      untagged = tag?.decoration === "excludes" ? " and untagged artifacts" : " including untagged artifacts";
    }
    return [
      ...repositoryWords(rule),
      `, ${ACTION} ${templateWords(rule.template, templateOf(rule.template), number)} with `,
      ...tagWords(rule),
      untagged,
    ];
  }

  async function load() {
    try {
      const [metadata, found] = await Promise.all([
        getJson(`${RETENTIONS}/metadatas`),
        policyId ? getJson(`${RETENTIONS}/${policyId}`) : null,
      ]);
      templates = metadata.data.templates ?? [];
      policy = found?.data ?? null;
      loaded = true;
    } catch (err) {
      status.show(failure("read the tag retention policy", err), "error");
    }
    draw();
    if (policyId) loadHistory();
  }

  function draw() {
    const rules = policy?.rules ?? [];
    rows.replaceChildren(...rules.map(retentionRow));
    if (rules.length === 0) rows.append(noRules());
    count.textContent = `${rules.length}/${MAX_RULES}`;
    add.disabled = !loaded || rules.length >= MAX_RULES;
    // As Harbor's: no schedule and no run without a rule.
    for (const button of [scheduleSave, runNow, dryRun]) button.disabled = rules.length === 0;
    const cron = policy?.trigger?.settings?.cron ?? "";
    const type = scheduleTypeOf(cron);
    current.replaceChildren(cron ? `Schedule: ${type} (${cron})` : "No schedule.");
    // The editor shows what is stored when that changes, and keeps what is being chosen otherwise.
    if (cron !== shownCron) {
      editor.set(type, cron);
      shownCron = cron;
    }
  }

  // Sends the policy with `changes` (rules, trigger) applied: a PUT of the whole of it, or the POST that
  // creates it (the first rule); then reads it back, as the API keeps it.
  async function savePolicy(changes) {
    if (policy) {
      await request("PUT", `${RETENTIONS}/${policyId}`, { ...policy, ...changes });
    } else {
      const created = await request("POST", RETENTIONS, {
        algorithm: "or",
        rules: [],
        trigger: { kind: "Schedule", settings: { cron: "" } },
        scope: { level: "project", ref: projectId },
        ...changes,
      });
      policyId = Number(createdId(created));
    }
    policy = (await getJson(`${RETENTIONS}/${policyId}`)).data;
    draw();
  }

  async function changeRules(rules, done, what) {
    status.clear();
    try {
      await savePolicy({ rules });
      status.show(done);
    } catch (err) {
      status.show(failure(what, err), "error");
    }
  }

  function retentionRow(rule) {
    const others = () => policy.rules.filter((r) => r.id !== rule.id);
    const toggle = () =>
      changeRules(
        policy.rules.map((r) => (r.id === rule.id ? { ...r, disabled: !r.disabled } : r)),
        `Rule ${rule.disabled ? "enabled" : "disabled"}.`,
        `${rule.disabled ? "enable" : "disable"} the rule`,
      );
    const remove = () => {
      if (!window.confirm("Delete this tag retention rule?")) return;
      changeRules(others(), "Rule deleted.", "delete the rule");
    };
    return ruleRow(rule, { describe, edit: () => ruleDialog(rule), toggle, remove });
  }

  // Adds a rule (rule null) or edits one: Harbor's repository selector, template (with its number when it
  // has a unit), tag selector and untagged box.
  function ruleDialog(rule) {
    status.clear();
    const untagged = h("input", { type: "checkbox", id: "retention-untagged" });
    untagged.checked = rule ? untaggedOf(tagSelector(rule)) : true;
    const selectors = selectorFields("retention", rule, h("label", { class: "check" }, untagged, "untagged artifacts"));
    const template = h(
      "select",
      { id: "retention-template" },
      templates.map((t) =>
        h("option", { value: t.rule_template }, `${t.action ?? ACTION} ${templateWords(t.rule_template, t)}`),
      ),
    );
    template.value = rule?.template ?? (templateOf(DEFAULT_TEMPLATE) ? DEFAULT_TEMPLATE : template.value);
    const param = h("input", { type: "number", id: "retention-param", class: "number", min: 0, step: 1 });
    param.value = String(rule?.params?.[rule.template] ?? "");
    // The number's field, named by its unit, only for a template that has one.
    const paramSlot = h("div", {});
    const showParam = () => {
      const unit = unitOf(template.value);
      paramSlot.replaceChildren(unit ? field(UNITS[unit] ?? unit, param) : "");
    };
    template.addEventListener("change", showParam);
    showParam();
    formDialog({
      id: "retention-rule-dialog",
      title: rule ? "Edit Tag Retention Rule" : "Add Tag Retention Rule",
      what: rule ? "change the rule" : "add the rule",
      submitLabel: rule ? "Save" : "Add",
      body: [
        h(
          "p",
          { class: "hint" },
          "Each rule is judged on its own, in the repositories it selects; an artifact any rule retains is kept.",
        ),
        ...selectors.fields.slice(0, 2),
        h("div", { class: "inline" }, field("By artifact count or number of days", template), paramSlot),
        ...selectors.fields.slice(2),
      ],
      submit: async () => {
        const name = template.value;
        const number = numberValue(param);
        const edited = {
          ...(rule ?? { priority: 0, disabled: false }),
          action: ACTION,
          template: name,
          // Left empty, the number is left out, and the API says it is required.
          params: unitOf(name) && number !== null ? { [name]: number } : {},
          tag_selectors: [{ ...selectors.tag(), extras: JSON.stringify({ untagged: untagged.checked }) }],
          scope_selectors: { repository: [selectors.repository()] },
        };
        const rules = policy?.rules ?? [];
        await savePolicy({ rules: rule ? rules.map((r) => (r.id === rule.id ? edited : r)) : [...rules, edited] });
        status.show(rule ? "Rule saved." : "Rule added.");
      },
    });
  }

  // The schedule: what is set now and Clean Up's editor.
  const scheduleStatus = notice();
  scheduleStatus.id = "retention-schedule-status";
  const current = h("p", { id: "retention-schedule-current" });
  const editor = scheduleEditor("retention-schedule");
  const scheduleSave = h("button", { type: "submit" }, "Save");

  async function saveSchedule(event) {
    event.preventDefault();
    scheduleStatus.clear();
    const cron = editor.cron();
    try {
      await savePolicy({ trigger: { ...policy?.trigger, kind: "Schedule", settings: { cron } } });
      scheduleStatus.show(cron ? "Schedule saved." : "Schedule removed.");
    } catch (err) {
      scheduleStatus.show(failure("schedule tag retention", err), "error");
    }
  }

  // The runs.
  const runStatus = notice();
  runStatus.id = "retention-run-status";
  const runNow = h("button", { type: "button", id: "retention-run-now", onclick: () => run(false) }, "RUN NOW");
  const dryRun = h(
    "button",
    { type: "button", id: "retention-dry-run", class: "secondary", onclick: () => run(true) },
    "DRY RUN",
  );
  const history = h("tbody");
  const paging = h("div");

  async function run(dry) {
    runStatus.clear();
    if (!dry && !window.confirm(RUN_WARNING)) return;
    try {
      const response = await request("POST", `${RETENTIONS}/${policyId}/executions`, { dry_run: dry });
      runStatus.show(`${dry ? "Dry run" : "Run"} ${createdId(response)} started.`);
      page = 1;
      await loadHistory();
    } catch (err) {
      runStatus.show(failure(dry ? "start a dry run" : "start a run", err), "error");
    }
  }

  const loadHistory = polledHistory({
    owner: section,
    fetch: () =>
      getJson(`${RETENTIONS}/${policyId}/executions?${new URLSearchParams({ page, page_size: HISTORY_PAGE_SIZE })}`),
    render: ({ data, total }) => {
      runs = data;
      drawRuns();
      paging.replaceChildren(
        pager(page, HISTORY_PAGE_SIZE, total, (p) => {
          page = p;
          loadHistory();
        }),
      );
    },
    active: ({ data }) => data.some((r) => ACTIVE.has(r.status)),
    fail: (err) => runStatus.show(failure("list the retention runs", err), "error"),
  });

  function drawRuns() {
    history.replaceChildren(...runs.flatMap(runRows));
    if (runs.length === 0) history.append(h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No runs yet.")));
  }

  // A run's row, and under it, when opened, its tasks.
  function runRows(r) {
    const runId = Number(r.id);
    const open = opened.get(runId);
    const toggle = () => {
      if (open) opened.delete(runId);
      else opened.set(runId, { page: 1, view: null, state: null });
      drawRuns();
    };
    const row = h(
      "tr",
      { "data-id": runId },
      h("td", {}, String(runId)),
      statusCell(r.status),
      h("td", {}, r.dry_run ? "Yes" : "No"),
      h("td", {}, TRIGGERS[r.trigger] ?? String(r.trigger ?? "")),
      h("td", {}, formatTime(r.start_time)),
      h("td", {}, formatDuration(r.start_time, r.end_time)),
      h(
        "td",
        {},
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            "aria-expanded": open ? "true" : "false",
            "aria-controls": `retention-tasks-${runId}`,
            onclick: toggle,
          },
          "Tasks",
        ),
      ),
      h(
        "td",
        {},
        stopButton({
          runId,
          state: r.status,
          send: () => request("PATCH", `${RETENTIONS}/${policyId}/executions/${runId}`, { action: "stop" }),
          status: runStatus,
          reload: loadHistory,
        }),
      ),
    );
    if (!open) return [row];
    // Read again while the run goes on, and once when it ends; kept as it is after that.
    if (open.view === null || ACTIVE.has(r.status) || open.state !== r.status) {
      open.view = tasksView(runId, open);
      open.state = r.status;
    }
    return [row, h("tr", { class: "run-tasks", "data-run": runId }, h("td", { colspan: 8 }, open.view))];
  }

  // A run's tasks (GET .../executions/{id}/tasks, paged), each with its log.
  function tasksView(runId, open) {
    const url = `${RETENTIONS}/${policyId}/executions/${runId}`;
    const taskRows = h("tbody");
    const taskPaging = h("div");
    const taskStatus = notice();
    const view = h(
      "div",
      { class: "tasks" },
      taskStatus,
      h(
        "table",
        { id: `retention-tasks-${runId}` },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Repository", "Status", "Retained", "Total", "Start Time", "Duration", "Log"].map((t) => h("th", {}, t)),
          ),
        ),
        taskRows,
      ),
      taskPaging,
    );

    async function loadTasks() {
      try {
        const query = new URLSearchParams({ page: open.page, page_size: TASKS_PAGE_SIZE });
        const { data, total } = await getJson(`${url}/tasks?${query}`);
        taskRows.replaceChildren(...data.map((t) => taskRow(url, t)));
        if (data.length === 0) {
          taskRows.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No repositories yet.")));
        }
        // Most runs have a page of tasks: a pager only for more.
        taskPaging.replaceChildren(
          total > TASKS_PAGE_SIZE
            ? pager(open.page, TASKS_PAGE_SIZE, total, (p) => {
                open.page = p;
                loadTasks();
              })
            : "",
        );
      } catch (err) {
        taskStatus.show(failure(`list the tasks of run ${runId}`, err), "error");
      }
    }

    loadTasks();
    return view;
  }

  function taskRow(url, t) {
    const taskId = Number(t.id);
    return h(
      "tr",
      { "data-id": taskId },
      h("td", { class: "repository" }, t.repository),
      statusCell(t.status),
      h("td", { class: "num" }, String(t.retained)),
      h("td", { class: "num" }, String(t.total)),
      h("td", {}, formatTime(t.start_time)),
      h("td", {}, formatDuration(t.start_time, t.end_time)),
      h("td", {}, h("a", { href: `${url}/tasks/${taskId}`, target: "_blank", rel: "noopener" }, "Log")),
    );
  }

  section.append(
    h("h2", { id: "tag-retention-title" }, "Tag Retention", count),
    status,
    h("div", { class: "toolbar" }, add),
    ruleTable("retention-rules", rows),
    h(
      "form",
      { class: "inline card", id: "retention-schedule", onsubmit: saveSchedule },
      h("h2", {}, "Schedule"),
      current,
      editor.fields,
      scheduleSave,
      scheduleStatus,
    ),
    h("h2", {}, "Retention runs"),
    h("div", { class: "toolbar buttons" }, runNow, dryRun),
    runStatus,
    h(
      "table",
      { id: "retention-history" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["ID", "Status", "Dry Run", "Trigger", "Start Time", "Duration", "Tasks", ""].map((t) => h("th", {}, t)),
        ),
      ),
      history,
    ),
    paging,
  );
  draw();
  drawRuns();
  load();
  return section;
}
