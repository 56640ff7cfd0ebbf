// Administration › Replications (/harbor/replications), as Harbor draws it: the replication rules
// (GET /api/v2.0/replication/policies), each added or edited in one dialog (push to or pull from an
// endpoint of Administration › Registries, its name, tag, label and resource filters, destination
// namespace, trigger and options), deleted after a confirmation, and started with Replicate. Under the
// rules, the executions of the one selected (read again while one is in progress), each opening to its
// tasks, a task's log shown in a dialog, and a Stop for an execution in progress. The API judges every
// value, and its message is shown as it is.

import { API, createdId, getJson, request } from "./api.js";
import {
  failure,
  field,
  formDialog,
  formatDuration,
  formatTime,
  h,
  link,
  notice,
  numberValue,
  pager,
  showModal,
} from "./dom.js";
import { allRegistries, pagedTable, table } from "./registries.js";
import { polledHistory, statusCell, stopButton } from "./runs.js";

const POLICIES = `${API}/replication/policies`;
const EXECUTIONS = `${API}/replication/executions`;
const EXECUTIONS_PAGE_SIZE = 10;
const TASKS_PAGE_SIZE = 10;
const LOCAL = 0; // Harbor's "Local": this registry
const IN_PROGRESS = "InProgress";
// runs.js's Stop is offered for a run it counts as going on, which Harbor's replication calls InProgress.
const RUNNING = "Running";
const TRIGGER_WORDS = { manual: "Manual", scheduled: "Scheduled", event_based: "Event Based" };
// Harbor's dest_namespace_replace_count choices, as this API reads them (-1: its legacy mode).
const REPLACE_COUNTS = [
  [-1, "Replace the first component (legacy)"],
  [0, "Keep every component"],
  [1, "Drop 1 component"],
  [2, "Drop 2 components"],
  [3, "Drop 3 components"],
];
// The filters the dialog edits; any other is kept as it is.
const EDITED_FILTERS = new Set(["name", "tag", "label", "resource"]);

const isLocal = (registry) => !registry || Number(registry.id) === LOCAL;
const isPush = (policy) => isLocal(policy.src_registry);

function triggerWords(trigger) {
  const words = TRIGGER_WORDS[trigger?.type] ?? String(trigger?.type ?? "");
  const cron = trigger?.trigger_settings?.cron;
  return trigger?.type === "scheduled" && cron ? `${words} (${cron})` : words;
}

function registryCell(registry) {
  if (isLocal(registry)) return h("td", { class: "registry" }, "Local");
  return h("td", { class: "registry", title: registry.url }, registry.name);
}

// Harbor's InProgress as the state runs.js's Stop knows.
const runState = (state) => (state === IN_PROGRESS ? RUNNING : state);

export function replicationsPage() {
  let selected = null; // the policy whose executions are shown
  let executionsPage = 1;
  // The executions whose tasks are open: id → { page, view, state }.
  const opened = new Map();

  const section = h("section", { class: "replications" });
  const status = notice();
  status.id = "policy-status";
  const list = pagedTable({
    id: "policies",
    headings: ["", "Name", "Status", "Source registry", "Destination registry", "Trigger", "Description", ""],
    url: POLICIES,
    row: policyRow,
    empty: "No replication rules.",
    fail: (err) => status.show(failure("list the replication rules", err), "error"),
  });

  async function load() {
    const policies = await list.load();
    // The selected policy as it is now (gone once deleted).
    if (policies !== null && selected !== null) selected = policies.find((p) => p.id === selected.id) ?? null;
    drawSelected();
  }

  function select(policy) {
    if (selected?.id !== policy.id) {
      selected = policy;
      executionsPage = 1;
      opened.clear();
    }
    drawSelected();
  }

  function policyRow(p) {
    const choose = h("input", {
      type: "radio",
      name: "replication-policy",
      "aria-label": `Select ${p.name}`,
      checked: selected?.id === p.id,
    });
    choose.addEventListener("change", () => select(p));
    const replicate = async () => {
      status.clear();
      try {
        const response = await request("POST", EXECUTIONS, { policy_id: Number(p.id) });
        status.show(`Execution ${createdId(response)} of ${p.name} started.`);
        executionsPage = 1;
      } catch (err) {
        status.show(failure(`replicate ${p.name}`, err), "error");
      }
      choose.checked = true;
      select(p);
    };
    const edit = () => {
      status.clear();
      policyDialog(p, async () => {
        status.show(`Replication rule ${p.name} saved.`);
        await load();
      });
    };
    const remove = async () => {
      if (!window.confirm(`Delete the replication rule ${p.name}?`)) return;
      status.clear();
      try {
        await request("DELETE", `${POLICIES}/${Number(p.id)}`);
        status.show(`Replication rule ${p.name} deleted.`);
        await load();
      } catch (err) {
        status.show(failure(`delete the replication rule ${p.name}`, err), "error");
      }
    };
    return h(
      "tr",
      { "data-id": p.id, "data-name": p.name, class: p.enabled ? null : "disabled" },
      h("td", {}, choose),
      h("td", { class: "name" }, p.name),
      h("td", { class: "state" }, p.enabled ? "Enabled" : "Disabled"),
      registryCell(p.src_registry),
      registryCell(p.dest_registry),
      h("td", { class: "trigger" }, triggerWords(p.trigger)),
      h("td", { class: "description" }, p.description),
      h(
        "td",
        { class: "actions" },
        h("button", { type: "button", onclick: replicate }, "Replicate"),
        h("button", { type: "button", class: "secondary", onclick: edit }, "Edit"),
        h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
      ),
    );
  }

  const create = () => {
    status.clear();
    policyDialog(null, async () => {
      status.show("Replication rule created.");
      await load();
    });
  };

  // The executions of the selected policy.
  const executionsTitle = h("h2", { id: "executions-title" }, "Executions");
  const executionsStatus = notice();
  executionsStatus.id = "execution-status";
  const executionBody = h("tbody");
  const executionsPaging = h("div");
  const executionsArea = h(
    "div",
    { class: "executions", hidden: true },
    executionsStatus,
    table(
      "executions",
      ["ID", "Status", "Trigger", "Start Time", "Duration", "Success Rate", "Tasks", ""],
      executionBody,
    ),
    executionsPaging,
  );
  const noSelection = h("p", { class: "hint", id: "executions-hint" }, "Select a rule to see its executions.");
  let executions = [];

  function drawSelected() {
    executionsArea.hidden = selected === null;
    noSelection.hidden = selected !== null;
    executionsTitle.textContent = selected === null ? "Executions" : `Executions of ${selected.name}`;
    if (selected !== null) loadExecutions();
  }

  const loadExecutions = polledHistory({
    owner: section,
    fetch: async () => {
      if (selected === null) return { data: [], total: 0, policy: null };
      const policy = selected.id;
      const query = new URLSearchParams({ policy_id: policy, page: executionsPage, page_size: EXECUTIONS_PAGE_SIZE });
      return { ...(await getJson(`${EXECUTIONS}?${query}`)), policy };
    },
    render: ({ data, total, policy }) => {
      if (policy !== (selected?.id ?? null)) return; // the selection changed meanwhile
      executions = data;
      drawExecutions();
      executionsPaging.replaceChildren(
        pager(executionsPage, EXECUTIONS_PAGE_SIZE, total, (p) => {
          executionsPage = p;
          loadExecutions();
        }),
      );
    },
    active: ({ data }) => data.some((e) => e.status === IN_PROGRESS),
    fail: (err) => executionsStatus.show(failure("list the executions", err), "error"),
  });

  function drawExecutions() {
    executionBody.replaceChildren(...executions.flatMap(executionRows));
    if (executions.length === 0) {
      executionBody.append(h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No executions yet.")));
    }
  }

  // An execution's row, and under it, when opened, its tasks.
  function executionRows(e) {
    const executionId = Number(e.id);
    const open = opened.get(executionId);
    const toggle = () => {
      if (open) opened.delete(executionId);
      else opened.set(executionId, { page: 1, view: null, state: null });
      drawExecutions();
    };
    const state = statusCell(e.status);
    if (e.status_text) state.append(h("div", { class: "hint status-text" }, e.status_text));
    const row = h(
      "tr",
      { "data-id": executionId },
      h("td", {}, String(executionId)),
      state,
      h("td", {}, TRIGGER_WORDS[e.trigger] ?? String(e.trigger ?? "")),
      h("td", {}, formatTime(e.start_time)),
      h("td", {}, formatDuration(e.start_time, e.end_time)),
      h("td", { class: "num rate" }, `${Number(e.succeed)}/${Number(e.total)}`),
      h(
        "td",
        {},
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            "aria-expanded": open ? "true" : "false",
            "aria-controls": `execution-tasks-${executionId}`,
            onclick: toggle,
          },
          "Tasks",
        ),
      ),
      h(
        "td",
        {},
        stopButton({
          runId: executionId,
          state: runState(e.status),
          send: () => request("PUT", `${EXECUTIONS}/${executionId}`),
          status: executionsStatus,
          reload: loadExecutions,
        }),
      ),
    );
    if (!open) return [row];
    // Read again while the execution goes on, and once when it ends; kept as it is after that.
    if (open.view === null || e.status === IN_PROGRESS || open.state !== e.status) {
      open.view = tasksView(executionId, open);
      open.state = e.status;
    }
    return [row, h("tr", { class: "run-tasks", "data-run": executionId }, h("td", { colspan: 8 }, open.view))];
  }

  section.append(
    h("h1", {}, "Replications"),
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "button", id: "new-policy", onclick: create }, "New replication rule"),
    ),
    status,
    ...list.elements,
    executionsTitle,
    noSelection,
    executionsArea,
  );
  load();
  return section;
}

// An execution's tasks (GET .../executions/{id}/tasks, paged: most executions have a page of them, so a
// pager only for more), each with its log.
function tasksView(executionId, open) {
  const url = `${EXECUTIONS}/${executionId}`;
  const taskStatus = notice();
  const tasks = pagedTable({
    id: `execution-tasks-${executionId}`,
    headings: ["ID", "Resource Type", "Source", "Destination", "Operation", "Status", "Start Time", "End Time", "Log"],
    url: `${url}/tasks`,
    row: (t) => taskRow(url, t),
    empty: "No tasks yet.",
    fail: (err) => taskStatus.show(failure(`list the tasks of execution ${executionId}`, err), "error"),
    state: open,
    pageSize: TASKS_PAGE_SIZE,
    pagerAlways: false,
  });
  tasks.load();
  return h("div", { class: "tasks" }, taskStatus, tasks.elements);
}

function taskRow(url, t) {
  const taskId = Number(t.id);
  return h(
    "tr",
    { "data-id": taskId },
    h("td", {}, String(taskId)),
    h("td", {}, t.resource_type),
    h("td", { class: "src" }, t.src_resource),
    h("td", { class: "dst" }, t.dst_resource),
    h("td", {}, t.operation),
    statusCell(t.status),
    h("td", {}, formatTime(t.start_time)),
    h("td", {}, formatTime(t.end_time)),
    h(
      "td",
      {},
      h(
        "button",
        { type: "button", class: "secondary", onclick: () => showLog(`${url}/tasks/${taskId}/log`, taskId) },
        "Log",
      ),
    ),
  );
}

// A task's log in a dialog of its own, as text; a link opens it in a tab.
async function showLog(href, taskId) {
  const text = h("pre", { class: "task-log", id: "task-log" }, "Loading…");
  const dialog = h("dialog", { id: "task-log-dialog", class: "card form-dialog", "aria-labelledby": "task-log-title" });
  dialog.addEventListener("close", () => dialog.remove());
  dialog.append(
    h("h2", { id: "task-log-title" }, `Log of task ${taskId}`),
    text,
    h(
      "div",
      { class: "toolbar buttons" },
      h("a", { href, target: "_blank", rel: "noopener" }, "Open in a new tab"),
      h("span", { class: "gap" }),
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Close"),
    ),
  );
  document.body.append(dialog);
  showModal(dialog);
  try {
    text.textContent = await (await request("GET", href)).text();
  } catch (err) {
    text.textContent = failure(`read the log of task ${taskId}`, err);
  }
}

function filterOf(policy, type) {
  return (policy?.filters ?? []).find((f) => f.type === type) ?? null;
}

// New rule (policy null) or Edit: Harbor's fields; onSaved() once the API took it.
async function policyDialog(policy, onSaved) {
  const problem = notice();
  problem.id = "policy-registries-status";
  let registries = [];
  try {
    registries = await allRegistries();
  } catch (err) {
    problem.show(failure("list the endpoints", err), "error");
  }
  if (registries.length === 0 && problem.hidden) {
    problem.replaceChildren("No endpoint yet: add one under ", link("/harbor/registries", "Registries"), " first.");
    problem.className = "notice info";
    problem.hidden = false;
  }

  const name = h("input", { id: "policy-name", autocomplete: "off" });
  const description = h("textarea", { id: "policy-description", rows: 2 });
  const mode = h(
    "select",
    { id: "policy-mode" },
    h("option", { value: "push" }, "Push-based"),
    h("option", { value: "pull" }, "Pull-based"),
  );
  const remote = h(
    "select",
    { id: "policy-registry" },
    registries.map((r) => h("option", { value: r.id }, `${r.name} (${r.url})`)),
  );
  const remoteField = field("Destination registry", remote);
  const nameFilter = h("input", { id: "policy-filter-name", placeholder: "library/** (all when empty)" });
  const tagFilter = h("input", { id: "policy-filter-tag", placeholder: "v* (all when empty)" });
  const tagDecoration = h(
    "select",
    { id: "policy-filter-tag-decoration", "aria-label": "Tag filter decoration" },
    h("option", { value: "matches" }, "matching"),
    h("option", { value: "excludes" }, "excluding"),
  );
  const resource = h(
    "select",
    { id: "policy-filter-resource" },
    h("option", { value: "" }, "All"),
    h("option", { value: "image" }, "image"),
    h("option", { value: "artifact" }, "artifact"),
  );
  const namespace = h("input", { id: "policy-dest-namespace", placeholder: "the source's (when empty)" });
  const replaceCount = h(
    "select",
    { id: "policy-replace-count" },
    REPLACE_COUNTS.map(([n, words]) => h("option", { value: n }, words)),
  );
  const trigger = h(
    "select",
    { id: "policy-trigger" },
    Object.entries(TRIGGER_WORDS).map(([value, words]) => h("option", { value }, words)),
  );
  const cron = h("input", { id: "policy-cron", placeholder: "0 0 3 * * *", autocomplete: "off" });
  const cronField = field("Cron (six fields, seconds first)", cron);
  const speed = h("input", { type: "number", id: "policy-speed", min: 0, step: 1, class: "number" });
  // The label filter offers the source's labels (Harbor's RegistryInfo: this registry's global labels for
  // a push rule, a Harbor endpoint's for a pull rule); labels the rule names that the source no longer
  // offers stay listed, so an edit never drops them unseen.
  const labelsBox = h("fieldset", { class: "checks", id: "policy-filter-labels" }, h("legend", {}, "Labels"));
  const labelDecoration = h(
    "select",
    { id: "policy-filter-label-decoration", "aria-label": "Label filter decoration" },
    h("option", { value: "matches" }, "matching"),
    h("option", { value: "excludes" }, "excluding"),
  );
  const labelField = h("div", { class: "inline" }, labelsBox, field("Label filter", labelDecoration));
  const storedLabels = filterOf(policy, "label");
  labelDecoration.value = storedLabels?.decoration ?? "matches";
  const checkedLabels = new Set(Array.isArray(storedLabels?.value) ? storedLabels.value : []);
  const check = (id, words, checked) => {
    const box = h("input", { type: "checkbox", id });
    box.checked = checked;
    return { box, element: h("label", { class: "check" }, box, words) };
  };
  const deletion = check("policy-deletion", "Delete remote resources when locally deleted", false);
  const byChunk = check("policy-copy-by-chunk", "Copy by chunk", policy?.copy_by_chunk === true);
  const singleActive = check(
    "policy-single-active",
    "Single active replication (skip a run while one is in progress)",
    policy?.single_active_replication === true,
  );
  const override = check("policy-override", "Override", true);
  const enabled = check("policy-enabled", "Enable rule", true);

  const labelBoxes = () => [...labelsBox.querySelectorAll("input[type=checkbox]")];
  // What the endpoints offer (GET /registries/{id}/info), read again when the mode or endpoint changes:
  // the source's labels, and copy by chunk only when both sides can (Harbor's rule).
  const info = async (id) => (await getJson(`${API}/registries/${id}/info`)).data;
  const localInfo = info(LOCAL); // this registry's, read once for the dialog
  let infoRead = 0;
  async function readInfo() {
    const read = ++infoRead;
    const remoteId = Number(remote.value) || LOCAL;
    const sourceId = mode.value === "push" ? LOCAL : remoteId;
    let source = null;
    let chunked = false;
    try {
      const [local, other] = await Promise.all([localInfo, remoteId === LOCAL ? null : info(remoteId)]);
      source = sourceId === LOCAL ? local : other;
      chunked = local?.supported_copy_by_chunk === true && other?.supported_copy_by_chunk === true;
    } catch (err) {
      if (read === infoRead) problem.show(failure("read what the endpoint supports", err), "error");
    }
    if (read !== infoRead) return; // a later change has asked again
    // What the user ticked while the endpoint answered stays ticked.
    for (const box of labelBoxes()) if (box.checked) checkedLabels.add(box.value);
    for (const box of labelBoxes()) if (!box.checked) checkedLabels.delete(box.value);
    const offered = (source?.supported_resource_filters ?? []).find((f) => f.type === "label")?.values ?? [];
    const names = [...new Set([...offered, ...checkedLabels])].sort();
    labelsBox.replaceChildren(
      h("legend", {}, "Labels"),
      ...(names.length === 0 ? [h("span", { class: "hint" }, "The source offers no label to filter by.")] : []),
      ...names.map((label, i) => {
        const { box, element } = check(`policy-label-${i}`, label, checkedLabels.has(label));
        box.value = label;
        return element;
      }),
    );
    byChunk.element.hidden = !chunked;
    if (!chunked) byChunk.box.checked = false;
  }

  const sync = () => {
    remoteField.firstChild.textContent = mode.value === "push" ? "Destination registry" : "Source registry";
    cronField.hidden = trigger.value !== "scheduled";
  };
  mode.addEventListener("change", () => {
    sync();
    readInfo();
  });
  remote.addEventListener("change", readInfo);
  trigger.addEventListener("change", sync);

  if (policy !== null) {
    name.value = policy.name;
    description.value = policy.description ?? "";
    mode.value = isPush(policy) ? "push" : "pull";
    remote.value = String((isPush(policy) ? policy.dest_registry : policy.src_registry).id);
    nameFilter.value = filterOf(policy, "name")?.value ?? "";
    tagFilter.value = filterOf(policy, "tag")?.value ?? "";
    tagDecoration.value = filterOf(policy, "tag")?.decoration ?? "matches";
    resource.value = filterOf(policy, "resource")?.value ?? "";
    namespace.value = policy.dest_namespace ?? "";
    replaceCount.value = String(policy.dest_namespace_replace_count ?? -1);
    trigger.value = policy.trigger?.type ?? "manual";
    cron.value = policy.trigger?.trigger_settings?.cron ?? "";
    speed.value = policy.speed > 0 ? String(policy.speed) : "";
    deletion.box.checked = policy.replicate_deletion === true;
    override.box.checked = policy.override === true;
    enabled.box.checked = policy.enabled === true;
  }
  sync();
  readInfo();

  function filters() {
    const out = (policy?.filters ?? []).filter((f) => !EDITED_FILTERS.has(f.type));
    const nameValue = nameFilter.value.trim();
    const tagValue = tagFilter.value.trim();
    const nameDecoration = filterOf(policy, "name")?.decoration ?? "matches";
    if (nameValue) out.push({ type: "name", value: nameValue, decoration: nameDecoration });
    if (tagValue) out.push({ type: "tag", value: tagValue, decoration: tagDecoration.value });
    const labels = labelBoxes()
      .filter((box) => box.checked)
      .map((box) => box.value);
    if (labels.length > 0) out.push({ type: "label", value: labels, decoration: labelDecoration.value });
    if (resource.value) out.push({ type: "resource", value: resource.value, decoration: "matches" });
    return out;
  }

  formDialog({
    id: "policy-dialog",
    title: policy === null ? "New replication rule" : `Edit replication rule ${policy.name}`,
    what: policy === null ? "create the replication rule" : `save the replication rule ${policy.name}`,
    body: [
      problem,
      field("Name", name),
      field("Description", description),
      h("div", { class: "inline" }, field("Replication mode", mode), remoteField),
      h(
        "fieldset",
        { class: "checks", id: "policy-filters" },
        h("legend", {}, "Source resource filter"),
        field("Name", nameFilter),
        field("Tag", tagFilter),
        field("Tag filter", tagDecoration),
        field("Resource", resource),
        labelField,
      ),
      h("div", { class: "inline" }, field("Destination namespace", namespace), field("Flattening", replaceCount)),
      h("div", { class: "inline" }, field("Trigger mode", trigger), cronField),
      field("Bandwidth (KB/s, empty for no limit)", speed),
      deletion.element,
      byChunk.element,
      singleActive.element,
      override.element,
      enabled.element,
    ],
    submit: async () => {
      const remoteId = { id: Number(remote.value) || 0 };
      const local = { id: LOCAL };
      const push = mode.value === "push";
      const body = {
        name: name.value.trim(),
        description: description.value,
        src_registry: push ? local : remoteId,
        dest_registry: push ? remoteId : local,
        dest_namespace: namespace.value.trim(),
        dest_namespace_replace_count: Number(replaceCount.value),
        trigger: {
          type: trigger.value,
          trigger_settings: { cron: trigger.value === "scheduled" ? cron.value.trim() : "" },
        },
        filters: filters(),
        replicate_deletion: deletion.box.checked,
        override: override.box.checked,
        enabled: enabled.box.checked,
        speed: numberValue(speed) ?? 0,
        copy_by_chunk: byChunk.box.checked,
        single_active_replication: singleActive.box.checked,
      };
      if (policy === null) await request("POST", POLICIES, body);
      else await request("PUT", `${POLICIES}/${Number(policy.id)}`, body);
      await onSaved();
    },
  });
}
