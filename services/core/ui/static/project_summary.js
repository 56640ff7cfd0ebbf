// A project's Summary tab (GET /api/v2.0/projects/{id}/summary, Harbor's ProjectSummary: repositories,
// quota, members by role for those who may list them, the upstream of a proxy cache) and its Configuration
// tab (the project's metadata, Harbor's settings: changed with PUT /api/v2.0/projects/{id} by those who may
// update the project, shown read-only to the others).

import { getJson, request } from "./api.js";
import { failure, h, notice } from "./dom.js";
import { quotaBar } from "./quotas.js";

const MEMBER_COUNTS = [
  ["project_admin_count", "Project admins"],
  ["maintainer_count", "Maintainers"],
  ["developer_count", "Developers"],
  ["guest_count", "Guests"],
  ["limited_guest_count", "Limited guests"],
];

export function summaryTab({ project, base }) {
  const status = notice();
  const facts = h("dl", { class: "facts", id: "project-summary" });

  function fact(label, ...value) {
    return [h("dt", {}, label), h("dd", {}, ...value)];
  }

  async function load() {
    try {
      const summary = (await getJson(`${base}/summary`)).data;
      const items = [
        fact("Access level", project.metadata?.public === "true" ? "Public" : "Private"),
        fact("Repositories", String(summary.repo_count ?? 0)),
      ];
      if (summary.quota) items.push(fact("Quota used", quotaBar(summary.quota.used.storage, summary.quota.hard.storage)));
      if ("project_admin_count" in summary) {
        const roles = MEMBER_COUNTS.map(([key, label]) => `${label}: ${Number(summary[key] ?? 0)}`);
        items.push(fact("Members", roles.join(", ")));
      }
      if (summary.registry) items.push(fact("Proxy cache of", `${summary.registry.name} (${summary.registry.url})`));
      facts.replaceChildren(...items.flat());
    } catch (err) {
      status.show(failure("read the project's summary", err), "error");
    }
  }

  load();
  return h("div", {}, h("h2", {}, "Summary"), status, facts);
}

// Harbor's Configuration tab, key by key ("true"/"false" strings, as the API keeps them).
const SWITCHES = [
  ["public", "Public: anyone may pull, without logging in"],
  ["enable_content_trust_cosign", "Deployment security: allow only images signed by cosign to be pulled"],
  ["prevent_vul", "Prevent vulnerable images from running"],
  ["auto_scan", "Automatically scan images on push"],
  ["auto_sbom_generation", "Automatically generate an SBOM on push"],
  ["reuse_sys_cve_allowlist", "Use the system CVE allowlist"],
];
const SEVERITIES = ["none", "low", "medium", "high", "critical"];

export function configurationTab({ project, base }) {
  const status = notice();
  const editable = project.togglable === true;
  const metadata = project.metadata ?? {};
  const boxes = SWITCHES.map(([key, label]) => {
    const box = h("input", { type: "checkbox", id: `config-${key}`, name: key, disabled: !editable });
    box.checked = metadata[key] === "true";
    return [key, box, h("label", { class: "check" }, box, label)];
  });
  const severity = h("select", { id: "config-severity", name: "severity", disabled: !editable });
  severity.replaceChildren(...SEVERITIES.map((s) => h("option", { value: s }, s)));
  severity.value = SEVERITIES.includes(metadata.severity) ? metadata.severity : "low";

  async function save(event) {
    event.preventDefault();
    status.clear();
    const changed = Object.fromEntries(boxes.map(([key, box]) => [key, box.checked ? "true" : "false"]));
    changed.severity = severity.value;
    try {
      await request("PUT", base, { metadata: changed });
      // The form shows what was saved; the other tabs read the project again when they open.
      status.show("Configuration saved.");
    } catch (err) {
      status.show(failure("save the configuration", err), "error");
    }
  }

  return h(
    "form",
    { class: "card", id: "project-configuration", onsubmit: save },
    h("h2", {}, "Configuration"),
    status,
    ...boxes.map(([, , label]) => label),
    h("label", { class: "field" }, h("span", {}, "Prevent images with vulnerabilities of this severity and above"), severity),
    editable
      ? h("button", { type: "submit" }, "Save")
      : h("p", { class: "muted" }, "Only a project admin may change the configuration."),
  );
}
