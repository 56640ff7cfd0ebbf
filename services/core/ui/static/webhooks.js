// A project's Webhooks tab (/harbor/projects/{id}/webhook), as Harbor draws it: the project's webhook
// policies (GET .../webhook/policies, each with its last trigger from GET .../webhook/lasttrigger), each
// added or edited in one dialog (the notify types, payload formats and event types of GET .../webhook/events;
// Test endpoint: POST .../webhook/policies/test with the dialog's policy), enabled or disabled (PUT) and
// deleted after a confirmation. Under them, the executions of the policy chosen (one delivery each, read
// again while one is pending or running) and an execution's task log. Maintainers see it all and change
// nothing. The stored secrets come back as "*****": the dialog shows them as empty inputs, and one left
// empty sends the mask back, which keeps the stored secret (and a test of the policy uses it); "Remove the
// stored value" clears it. The API judges every value, and its message
// (a field's, the SSRF guard's) is shown as it is.

import { getJson, request } from "./api.js";
import { failure, field, formDialog, formatTime, h, notice, pager, testButton } from "./dom.js";
import { pagedTable, table } from "./registries.js";
import { PROJECT_ADMIN } from "./roles.js";
import { ACTIVE, polledHistory, statusCell } from "./runs.js";

// notification-policy read and list (services/common/rbac.py): project admins and maintainers, who are
// offered the tab; only project admins (and the system administrator) change the policies.
export const WEBHOOK_READERS = [1, 4];
const MASKED = "*****";
const EXECUTIONS_PAGE_SIZE = 10;
const DEFAULT_FORMAT = "Default";
const HEADINGS = [
  "Name",
  "Enabled",
  "Notify Type",
  "Target",
  "Event Types",
  "Last Triggered",
  "Creator",
  "Created",
  "",
];

// The newest last_trigger_time of each policy (by name: unique in a project) among its event types.
function newestTriggers(entries) {
  const newest = new Map();
  for (const t of entries) {
    const known = newest.get(t.policy_name);
    if (t.last_trigger_time && (!known || new Date(t.last_trigger_time) > new Date(known))) {
      newest.set(t.policy_name, t.last_trigger_time);
    }
  }
  return newest;
}

export function webhooksTab({ user, project, base }) {
  const canManage = user.sysadmin_flag || (project.current_user_role_ids ?? []).includes(PROJECT_ADMIN);
  const hooks = `${base}/webhook`;
  const policies = `${hooks}/policies`;
  let triggered = new Map();
  let selected = null; // the policy whose executions are shown
  let shown = null; // its executions' view

  const view = h("div", { class: "webhooks" });
  const status = notice();
  status.id = "webhook-status";
  const list = pagedTable({
    id: "webhooks",
    headings: HEADINGS,
    url: policies,
    row: policyRow,
    empty: "No webhooks.",
    fail: (err) => status.show(failure("list the webhooks", err), "error"),
  });
  const executions = h("div", { class: "webhook-executions" });
  const hint = () => [
    h("h3", { id: "webhook-executions-title" }, "Executions"),
    h("p", { class: "hint", id: "webhook-executions-hint" }, "Choose a webhook's Executions."),
  ];

  async function load() {
    try {
      triggered = newestTriggers((await getJson(`${hooks}/lasttrigger`)).data);
    } catch (err) {
      status.show(failure("read when the webhooks were last triggered", err), "error");
    }
    const found = await list.load();
    if (found === null || selected === null) return;
    // The chosen policy as it is now: its executions read again, or none shown once it is gone.
    selected = found.find((p) => p.id === selected.id) ?? null;
    if (selected === null) {
      shown = null;
      executions.replaceChildren(...hint());
    } else {
      shown.title.textContent = `Executions of ${selected.name}`;
      shown.load();
    }
  }

  async function change(method, p, body, done, what) {
    status.clear();
    try {
      await request(method, `${policies}/${Number(p.id)}`, body);
      status.show(done);
    } catch (err) {
      status.show(failure(what, err), "error");
    }
    await load();
  }

  function select(p, button) {
    for (const other of list.elements[0].querySelectorAll("button[aria-pressed]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    if (selected?.id === p.id) {
      shown.load();
      return;
    }
    selected = p;
    shown = executionsView(`${policies}/${Number(p.id)}`, p.name);
    executions.replaceChildren(shown.element);
  }

  function policyRow(p) {
    const targets = p.targets ?? [];
    const verb = p.enabled ? "disable" : "enable";
    const toggle = () =>
      change("PUT", p, { ...p, enabled: !p.enabled }, `Webhook ${p.name} ${verb}d.`, `${verb} the webhook ${p.name}`);
    const edit = () => {
      status.clear();
      webhookDialog(hooks, p, async () => {
        status.show(`Webhook ${p.name} saved.`);
        await load();
      });
    };
    const remove = () => {
      if (!window.confirm(`Delete the webhook ${p.name}?`)) return;
      change("DELETE", p, undefined, `Webhook ${p.name} deleted.`, `delete the webhook ${p.name}`);
    };
    const choose = h(
      "button",
      { type: "button", class: "secondary", "aria-pressed": String(selected?.id === p.id) },
      "Executions",
    );
    choose.addEventListener("click", () => select(p, choose));
    const actions = [choose];
    if (canManage) {
      actions.push(
        h("button", { type: "button", class: "secondary", onclick: edit }, "Edit"),
        h("button", { type: "button", class: "secondary", onclick: toggle }, p.enabled ? "Disable" : "Enable"),
        h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
      );
    }
    return h(
      "tr",
      { "data-id": p.id, "data-name": p.name, class: p.enabled ? null : "disabled" },
      h("td", { class: "name" }, p.name),
      h("td", { class: "state" }, p.enabled ? "Enabled" : "Disabled"),
      h("td", { class: "notify-type" }, [...new Set(targets.map((t) => t.type))].join(", ")),
      h("td", { class: "address" }, targets.map((t) => t.address).join(", ")),
      h("td", { class: "events" }, (p.event_types ?? []).join(", ")),
      h("td", { class: "last-trigger" }, formatTime(triggered.get(p.name))),
      h("td", { class: "creator" }, p.creator),
      h("td", {}, formatTime(p.creation_time)),
      h("td", { class: "actions" }, actions),
    );
  }

  const refresh = () => {
    status.clear();
    load();
  };
  const create = () => {
    status.clear();
    webhookDialog(hooks, null, async () => {
      status.show("Webhook created.");
      await load();
    });
  };

  executions.replaceChildren(...hint());
  view.append(
    h("h2", {}, "Webhooks"),
    h(
      "div",
      { class: "toolbar buttons" },
      canManage ? h("button", { type: "button", id: "new-webhook", onclick: create }, "New webhook") : null,
      h("button", { type: "button", class: "secondary", id: "webhook-refresh", onclick: refresh }, "Refresh"),
    ),
    status,
    ...list.elements,
    executions,
  );
  load();
  return view;
}

// One policy's executions (GET {policy}/executions, newest first: one delivery each), read again while one
// is pending or running and as long as the view is in the page, and one execution's task log.
function executionsView(policy, name) {
  let page = 1;
  let logOf = null; // the execution whose log is shown
  const element = h("div", {});
  const title = h("h3", { id: "webhook-executions-title" }, `Executions of ${name}`);
  const status = notice();
  status.id = "webhook-execution-status";
  const rows = h("tbody");
  const paging = h("div");
  const logTitle = h("h3", { id: "webhook-log-title" });
  const logText = h("pre", { class: "task-log", id: "webhook-log" });
  const logArea = h(
    "div",
    { class: "webhook-log", hidden: true },
    h(
      "div",
      { class: "toolbar buttons" },
      logTitle,
      h("span", { class: "gap" }),
      h(
        "button",
        { type: "button", class: "secondary", id: "webhook-log-refresh", onclick: () => showLog(logOf) },
        "Refresh log",
      ),
    ),
    logText,
  );

  const load = polledHistory({
    owner: element,
    fetch: () => getJson(`${policy}/executions?${new URLSearchParams({ page, page_size: EXECUTIONS_PAGE_SIZE })}`),
    render: ({ data, total }) => {
      status.clear();
      rows.replaceChildren(...data.map(executionRow));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No executions yet.")));
      const go = (p) => {
        page = p;
        load();
      };
      paging.replaceChildren(pager(page, EXECUTIONS_PAGE_SIZE, total, go));
    },
    active: ({ data }) => data.some((e) => ACTIVE.has(e.status)),
    fail: (err) => status.show(failure(`list the executions of ${name}`, err), "error"),
  });

  function executionRow(e) {
    const executionId = Number(e.id);
    return h(
      "tr",
      { "data-id": executionId },
      h("td", {}, String(executionId)),
      h("td", { class: "event-type" }, e.extra_attrs?.event_type ?? ""),
      statusCell(e.status),
      h("td", {}, formatTime(e.start_time)),
      h("td", {}, formatTime(e.end_time)),
      h("td", { class: "status-message" }, e.status_message ?? ""),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => showLog(executionId) }, "Log")),
    );
  }

  // The execution's one task (GET .../executions/{id}/tasks) and its log, as text.
  async function showLog(executionId) {
    const tasks = `${policy}/executions/${executionId}/tasks`;
    logOf = executionId;
    logArea.hidden = false;
    logTitle.textContent = `Log of execution ${executionId}`;
    logText.textContent = "Loading…";
    let text;
    try {
      const [task] = (await getJson(tasks)).data;
      text = task ? await (await request("GET", `${tasks}/${Number(task.id)}/log`)).text() : "No task yet.";
    } catch (err) {
      text = failure(`read the log of execution ${executionId}`, err);
    }
    if (logOf === executionId) logText.textContent = text; // no other log asked for meanwhile
  }

  element.append(
    title,
    h(
      "div",
      { class: "toolbar" },
      h(
        "button",
        { type: "button", class: "secondary", id: "webhook-executions-refresh", onclick: () => load() },
        "Refresh",
      ),
    ),
    status,
    table("webhook-executions", ["ID", "Event Type", "Status", "Start Time", "End Time", "Message", ""], rows),
    paging,
    logArea,
  );
  load();
  return { element, title, load };
}

// A secret's field. It sends what is typed; left empty, the mask when one is stored (which keeps it), or
// nothing when "Remove the stored value" is ticked (which clears it).
function secretField(label, id, stored, props = {}) {
  const kept = stored === MASKED;
  const input = h("input", { id, autocomplete: "off", placeholder: kept ? "unchanged" : null, ...props });
  const remove = h("input", { type: "checkbox", id: `${id}-remove` });
  remove.addEventListener("change", () => {
    input.disabled = remove.checked;
    if (remove.checked) input.value = "";
  });
  const element = h(
    "div",
    {},
    field(label, input),
    kept ? h("label", { class: "check" }, remove, "Remove the stored value") : null,
  );
  const value = () => (remove.checked ? "" : input.value === "" && kept ? MASKED : input.value);
  return { element, value };
}

// New webhook (policy null) or Edit: Harbor's fields for the policy's first target (any other target is
// sent back as it is), Test endpoint and OK. onSaved() once the API took it.
async function webhookDialog(hooks, policy, onSaved) {
  const editing = policy !== null;
  const target = policy?.targets?.[0] ?? null;
  const tested = notice();
  tested.id = "webhook-test-status";
  let choices = { event_type: [], notify_type: ["http"], payload_formats: [] };
  try {
    choices = (await getJson(`${hooks}/events`)).data;
  } catch (err) {
    tested.show(failure("read the webhook event types", err), "error");
  }

  const name = h("input", { id: "webhook-name", autocomplete: "off" });
  const description = h("textarea", { id: "webhook-description", rows: 2 });
  const notifyType = h(
    "select",
    { id: "webhook-notify-type" },
    choices.notify_type.map((t) => h("option", { value: t }, t)),
  );
  const payloadFormat = h("select", { id: "webhook-payload-format" });
  const address = h("input", { id: "webhook-address", class: "wide", placeholder: "https://hooks.example.com/berth" });
  const authHeader = secretField("Auth Header", "webhook-auth-header", target?.auth_header);
  const authField = authHeader.element;
  const signingSecret = secretField("Signing Secret", "webhook-signing-secret", target?.signing_secret, {
    type: "password",
    autocomplete: "new-password",
  });
  const verify = h("input", { type: "checkbox", id: "webhook-verify" });
  const enabled = h("input", { type: "checkbox", id: "webhook-enabled" });
  // Harbor ticks every event type for a new webhook.
  const chosen = new Set(editing ? policy.event_types : choices.event_type);
  const events = choices.event_type.map((kind) => {
    const box = h("input", { type: "checkbox", id: `webhook-event-${kind}`, value: kind });
    box.checked = chosen.has(kind);
    return box;
  });

  const formatsOf = (type) => choices.payload_formats.find((f) => f.notify_type === type)?.formats ?? [DEFAULT_FORMAT];
  const sync = () => {
    const formats = formatsOf(notifyType.value);
    const kept = payloadFormat.value;
    payloadFormat.replaceChildren(...formats.map((f) => h("option", { value: f }, f)));
    payloadFormat.value = formats.includes(kept) ? kept : formats[0];
    authField.hidden = notifyType.value !== "http";
  };
  notifyType.addEventListener("change", sync);

  verify.checked = !target?.skip_cert_verify;
  enabled.checked = policy?.enabled ?? true;
  if (editing) {
    name.value = policy.name;
    description.value = policy.description ?? "";
    notifyType.value = target?.type ?? "http";
    address.value = target?.address ?? "";
  }
  sync();
  if (target) payloadFormat.value = target.payload_format;

  // The policy as typed: the same JSON for a create, a save and a test.
  const body = () => {
    const http = notifyType.value === "http";
    return {
      name: name.value.trim(),
      description: description.value,
      enabled: enabled.checked,
      event_types: events.filter((b) => b.checked).map((b) => b.value),
      targets: [
        {
          type: notifyType.value,
          address: address.value.trim(),
          payload_format: payloadFormat.value,
          skip_cert_verify: !verify.checked,
          auth_header: http ? authHeader.value() : "",
          signing_secret: signingSecret.value(),
        },
        ...(policy?.targets ?? []).slice(1),
      ],
    };
  };

  const test = testButton({
    id: "webhook-test",
    label: "Test endpoint",
    dialogId: "webhook-dialog",
    tested,
    what: "reach the endpoint",
    success: "Endpoint tested successfully",
    // Editing: the id lets the test use the stored secrets the dialog sends back masked.
    call: () => request("POST", `${hooks}/policies/test`, editing ? { ...body(), id: Number(policy.id) } : body()),
  });

  formDialog({
    id: "webhook-dialog",
    title: editing ? `Edit webhook ${policy.name}` : "New webhook",
    what: editing ? `save the webhook ${policy.name}` : "create the webhook",
    submitLabel: "OK",
    body: [
      field("Name", name),
      field("Description", description),
      h("div", { class: "inline" }, field("Notify Type", notifyType), field("Payload Format", payloadFormat)),
      field("Endpoint URL", address),
      authField,
      signingSecret.element,
      h("p", { class: "hint" }, "Signs each request: X-Berth-Signature, HMAC-SHA256 of X-Berth-Timestamp and body."),
      h("label", { class: "check" }, verify, "Verify Remote Certificate"),
      h(
        "fieldset",
        { class: "checks", id: "webhook-events" },
        h("legend", {}, "Event Type"),
        events.map((box) => h("label", { class: "check" }, box, box.value)),
      ),
      h("label", { class: "check" }, enabled, "Enabled"),
      h(
        "div",
        { class: "toolbar buttons" },
        test,
      ),
      tested,
    ],
    submit: async () => {
      tested.clear();
      if (editing) {
        await request("PUT", `${hooks}/policies/${Number(policy.id)}`, { ...body(), id: Number(policy.id) });
      } else {
        await request("POST", `${hooks}/policies`, body());
      }
      await onSaved();
    },
  });
}
