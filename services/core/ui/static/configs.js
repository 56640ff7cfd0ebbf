// Administration › Configuration, as Harbor draws it (/harbor/configs): the run-time keys of
// GET /api/v2.0/configurations ({key: {value, editable}}) in one form per tab. Save sends
// PUT /api/v2.0/configurations with only the keys changed, each in its JSON type (the API refuses "true"
// for a boolean and "30" for a number), and the API alone judges a value: its message names the key.
// A key is one line of its tab's FIELDS; a key the API lists that no line names is drawn nowhere, and a
// line whose key the API does not list (an older core) is left out.

import { API, getJson, request } from "./api.js";
import { tabNav } from "./cleanup.js";
import { failure, h, notice, numberValue } from "./dom.js";
import { storageInput } from "./quotas.js";

// The kinds of input. Each returns make(id), which draws the input for one key and gives
// { element, read(), write(value) }: read() is the value as the API takes it (null for an empty number).
function checkbox() {
  return (id) => {
    const input = h("input", { type: "checkbox", id });
    return {
      element: input,
      read: () => input.checked,
      write: (value) => {
        input.checked = value === true;
      },
    };
  };
}

// options: [[value, label], ...].
function choice(options) {
  return (id) => {
    const select = h(
      "select",
      { id },
      options.map(([value, label]) => h("option", { value }, label)),
    );
    return {
      element: select,
      read: () => select.value,
      write: (value) => {
        // A value this page has no label for yet is shown as it is, not as the first option.
        if (![...select.options].some((o) => o.value === String(value))) {
          select.append(h("option", { value: String(value) }, String(value)));
        }
        select.value = String(value);
      },
    };
  };
}

function integer({ min } = {}) {
  return (id) => {
    const input = h("input", { type: "number", id, min, step: 1, class: "number" });
    return {
      element: input,
      read: () => numberValue(input),
      write: (value) => {
        input.value = String(value);
      },
    };
  };
}

function text({ placeholder } = {}) {
  return (id) => {
    const input = h("input", { type: "text", id, placeholder, autocomplete: "off", class: "wide" });
    return {
      element: input,
      read: () => input.value,
      write: (value) => {
        input.value = String(value ?? "");
      },
    };
  };
}

// A secret the API never returns (ldap_search_password): always drawn empty, sent only when typed in.
function password() {
  return (id) => {
    const input = h("input", { type: "password", id, autocomplete: "new-password", class: "wide" });
    return {
      element: input,
      read: () => input.value,
      write: () => {
        input.value = "";
      },
    };
  };
}

// Harbor's LDAP scopes, sent as the integers the API takes.
function scope() {
  return (id) => {
    const widget = choice([
      ["0", "Base"],
      ["1", "One Level"],
      ["2", "Subtree"],
    ])(id);
    return { ...widget, read: () => Number(widget.element.value) };
  };
}

// Bytes as a number and a unit, -1 for unlimited (Harbor's storage_per_project): the quotas' editor.
function storage() {
  return (id) => storageInput(id);
}

const SYSTEM_SETTINGS = [
  {
    key: "project_creation_restriction",
    label: "Project Creation",
    input: choice([
      ["everyone", "Everyone"],
      ["adminonly", "Admin Only"],
    ]),
    hint: "Who may create projects.",
  },
  { key: "self_registration", label: "Allow Self-Registration", input: checkbox(), hint: "Anyone may sign up." },
  { key: "token_expiration", label: "Token Expiration (Minutes)", input: integer({ min: 1 }) },
  { key: "robot_token_duration", label: "Robot Token Expiration (Days)", input: integer({ min: 1 }) },
  {
    key: "robot_name_prefix",
    label: "Robot Name Prefix",
    input: text(),
    hint: "What new robots' names start with; earlier robots keep theirs.",
  },
  { key: "session_timeout", label: "Session Timeout (Minutes)", input: integer({ min: 1 }) },
  {
    key: "storage_per_project",
    label: "Default Storage per Project",
    input: storage(),
    hint: "The quota of new projects; -1 for unlimited.",
  },
  { key: "banner_message", label: "Banner Message", input: text(), hint: "Shown on every page; empty: none." },
  {
    key: "audit_log_forward_endpoint",
    label: "Audit Log Forward Endpoint",
    input: text({ placeholder: "host:port" }),
    hint: "A syslog server's host:port; empty: none.",
  },
  {
    key: "skip_audit_log_database",
    label: "Skip Audit Log Database",
    input: checkbox(),
    hint: "Forward audit entries only, without keeping them (needs an endpoint).",
  },
  {
    key: "read_only",
    label: "Repository Read Only",
    input: checkbox(),
    hint: "Pulls only: every push, delete, tagging and copy is refused.",
  },
  { key: "notification_enable", label: "Webhooks Enabled", input: checkbox(), hint: "Off: no webhook is sent." },
  {
    key: "webhook_job_max_retry",
    label: "Webhook Retries",
    input: integer({ min: 0 }),
    hint: "How often a failed delivery is tried again (backing off 2, 4, 8 ... s).",
  },
  {
    key: "webhook_job_http_client_timeout",
    label: "Webhook Timeout (Seconds)",
    input: integer({ min: 1 }),
    hint: "How long a receiver may take to answer.",
  },
  {
    key: "webhook_target_allowlist",
    label: "Webhook Target Allowlist",
    input: text({ placeholder: "10.0.0.0/8, hooks.internal" }),
    hint: "Internal hosts, addresses and ranges webhooks may reach; empty: none.",
  },
];

// Harbor's Authentication tab. auth_mode is editable only while the admin is the only account (the API
// says so in `editable`); ldap_search_password is never read back (secret: true, drawn empty, sent when
// typed). "Test LDAP Server" asks POST /api/v2.0/ldap/ping with the form's values as they are now; the
// API fills what is empty from the stored configuration (the stored password only for the stored
// URL and search DN).
const AUTHENTICATION = [
  {
    key: "auth_mode",
    label: "Auth Mode",
    input: choice([
      ["db_auth", "Database"],
      ["ldap_auth", "LDAP"],
    ]),
    hint: "Changed only while the admin is the only user.",
  },
  { key: "ldap_url", label: "LDAP URL", input: text({ placeholder: "ldaps://ldap.example.com" }) },
  { key: "ldap_search_dn", label: "LDAP Search DN", input: text(), hint: "Empty: anonymous search." },
  {
    key: "ldap_search_password",
    label: "LDAP Search Password",
    input: password(),
    secret: true,
    hint: "Never shown; empty keeps the stored one.",
  },
  { key: "ldap_base_dn", label: "LDAP Base DN", input: text() },
  { key: "ldap_filter", label: "LDAP Filter", input: text({ placeholder: "(objectClass=person)" }) },
  { key: "ldap_uid", label: "LDAP UID", input: text(), hint: "The attribute holding the login name." },
  { key: "ldap_scope", label: "LDAP Scope", input: scope() },
  { key: "ldap_timeout", label: "LDAP Timeout (Seconds)", input: integer({ min: 1 }) },
  { key: "ldap_verify_cert", label: "LDAP Verify Certificate", input: checkbox() },
  { key: "ldap_group_base_dn", label: "LDAP Group Base DN", input: text(), hint: "Empty: no LDAP groups." },
  { key: "ldap_group_search_filter", label: "LDAP Group Filter", input: text() },
  { key: "ldap_group_attribute_name", label: "LDAP Group GID", input: text() },
  { key: "ldap_group_admin_dn", label: "LDAP Group Admin DN", input: text(), hint: "Its members are administrators." },
  { key: "ldap_group_membership_attribute", label: "LDAP Group Membership", input: text() },
  { key: "ldap_group_search_scope", label: "LDAP Group Scope", input: scope() },
];

// The ping's LdapConf from the form: its fields by Harbor's names (the timeout is ldap_connection_timeout).
function pingBody(read) {
  const body = {};
  for (const key of ["ldap_url", "ldap_search_dn", "ldap_base_dn", "ldap_filter", "ldap_uid", "ldap_scope"]) {
    const value = read(key);
    if (value !== undefined && value !== null) body[key] = value;
  }
  const password = read("ldap_search_password");
  if (password) body.ldap_search_password = password;
  const timeout = read("ldap_timeout");
  if (Number.isInteger(timeout)) body.ldap_connection_timeout = timeout;
  const verify = read("ldap_verify_cert");
  if (typeof verify === "boolean") body.ldap_verify_cert = verify;
  return body;
}

function ldapPing(read) {
  const result = notice();
  result.id = "ldap-ping-status";
  const button = h("button", { type: "button", id: "ldap-ping", class: "secondary" }, "Test LDAP Server");
  button.addEventListener("click", async () => {
    result.clear();
    button.disabled = true;
    try {
      const response = await request("POST", `${API}/ldap/ping`, pingBody(read));
      const { success, message } = await response.json();
      result.show(success ? `Connection to the LDAP server succeeded: ${message}` : `Failed: ${message}`,
        success ? "info" : "error");
    } catch (err) {
      result.show(failure("test the LDAP server", err), "error");
    } finally {
      button.disabled = false;
    }
  });
  return { buttons: [button], status: result };
}

const TABS = [
  { key: "authentication", label: "Authentication", fields: AUTHENTICATION, actions: ldapPing },
  { key: "setting", label: "System Settings", fields: SYSTEM_SETTINGS },
];

export function configsPage({ params, refreshSession }) {
  // Harbor opens on Authentication; /harbor/configs alone keeps showing System Settings, as before.
  const tab = TABS.find((t) => t.key === params[0]) ?? TABS.find((t) => t.key === "setting");
  return h(
    "section",
    { class: "configs" },
    h("h1", {}, "Configuration"),
    tabNav(
      "config-tabs",
      "configuration",
      "/harbor/configs",
      TABS.map((t) => [t.key, t.label]),
      tab.key,
    ),
    configForm(tab, refreshSession),
  );
}

function configForm(tab, refreshSession) {
  const status = notice();
  status.id = "config-status";
  const rows = h("div", { class: "settings-rows" });
  const save = h("button", { type: "submit", id: "config-save", disabled: true }, "Save");
  const cancel = h("button", { type: "button", id: "config-cancel", class: "secondary" }, "Cancel");
  // The keys drawn, with their inputs, and the values stored (as the last read gave them).
  let shown = [];
  let stored = {};
  let busy = false;

  const changed = () => shown.filter((f) => f.editable && f.widget.read() !== stored[f.key]);
  const update = () => {
    save.disabled = busy || changed().length === 0;
    cancel.disabled = busy;
  };

  async function load() {
    busy = true;
    update();
    try {
      const { data } = await getJson(`${API}/configurations`);
      stored = {};
      shown = tab.fields
        // A secret is never listed, but may be set while the keys of its tab are there.
        .filter((f) => Object.hasOwn(data, f.key) || (f.secret && tab.fields.some((o) => Object.hasOwn(data, o.key))))
        .map((f) => {
          stored[f.key] = f.secret ? "" : data[f.key].value;
          const editable = f.secret || data[f.key].editable !== false;
          return { ...f, widget: f.input(`config-${f.key}`), editable };
        });
      rows.replaceChildren(...shown.map(row));
      for (const f of shown) f.widget.write(stored[f.key]);
    } catch (err) {
      status.show(failure("read the configuration", err), "error");
    } finally {
      busy = false;
      update();
    }
  }

  function row(f) {
    const id = `config-${f.key}`;
    if (!f.editable) {
      for (const input of f.widget.element.querySelectorAll("input, select")) input.disabled = true;
      if (f.widget.element.matches("input, select")) f.widget.element.disabled = true;
    }
    return h(
      "div",
      { class: "setting", "data-key": f.key },
      h("label", { for: id }, f.label),
      h(
        "div",
        { class: "control" },
        f.widget.element,
        f.hint ? h("span", { class: "hint" }, f.hint) : null,
        f.editable ? null : h("span", { class: "hint" }, "Not editable here."),
      ),
    );
  }

  async function submit(event) {
    event.preventDefault();
    const body = Object.fromEntries(changed().map((f) => [f.key, f.widget.read()]));
    if (Object.keys(body).length === 0) return;
    status.clear();
    busy = true;
    update();
    try {
      await request("PUT", `${API}/configurations`, body);
    } catch (err) {
      // The edits stay, for the user to correct; nothing was stored.
      status.show(failure("save the configuration", err), "error");
      busy = false;
      update();
      return;
    }
    // systeminfo again, so the read-only and message banners follow at once; it draws this page anew.
    try {
      await refreshSession("Configuration saved.");
    } catch (err) {
      status.show(`Configuration saved, but the page could not be read again: ${err.message}`, "error");
      busy = false;
      update();
    }
  }

  function reset() {
    status.clear();
    load();
  }

  cancel.addEventListener("click", reset);
  // A tab's own buttons (Authentication's LDAP test), reading the form's values as they are now.
  const actions = tab.actions
    ? tab.actions((key) => shown.find((f) => f.key === key)?.widget.read())
    : { buttons: [], status: null };
  const form = h(
    "form",
    // The API checks every value (its message names the key), not the browser.
    { class: "card settings", id: "config-form", novalidate: true, onsubmit: submit },
    rows,
    h("div", { class: "toolbar buttons" }, save, cancel, ...actions.buttons),
    status,
    actions.status,
  );
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  load();
  return form;
}
