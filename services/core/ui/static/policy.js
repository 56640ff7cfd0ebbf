// A project's Policy tab, as Harbor draws it: Tag Retention (retention.js) and Tag Immutability (here; what
// the two kinds of rule share is rules.js's). Immutability lists
// GET /api/v2.0/projects/{id}/immutabletagrules (at most 15 a project), each rule one repository selector
// and one tag selector, worded as Harbor words them ("For the repositories matching **, tags matching
// v*"); a dialog adds (POST) and edits (PUT) one, Disable / Enable sends the rule back with only `disabled`
// changed, Delete asks first. The API judges every pattern, and its message is shown as it is. Who sees
// which section is decided from the roles (services/common/rbac.py), so no refused probe is logged.

import { getJson, request } from "./api.js";
import { failure, formDialog, h, notice } from "./dom.js";
import { retentionSection } from "./retention.js";
import { MAX_RULES, noRules, repositoryWords, ruleRow, ruleTable, selectorFields, tagWords } from "./rules.js";

// immutable-tag create/update/delete/list: project admins and maintainers.
const IMMUTABLE_RULE_EDITORS = [1, 4];
// tag-retention create/read/update/delete/list/operate: project admins, maintainers and developers (a
// superset of the editors above, so also who is offered the tab).
const RETENTION_MANAGERS = [1, 2, 4];
export const POLICY_READERS = RETENTION_MANAGERS;

const NEW_RULE = { priority: 0, disabled: false, action: "immutable", template: "immutable_template", params: {} };

export function policyTab({ project, base, holds }) {
  const sections = [];
  if (holds(RETENTION_MANAGERS)) sections.push(retentionSection({ project }));
  if (holds(IMMUTABLE_RULE_EDITORS)) sections.push(immutabilitySection(`${base}/immutabletagrules`));
  if (sections.length === 0) {
    sections.push(h("p", { class: "notice" }, "Your role in this project has no policies to show."));
  }
  return h("div", { class: "policy" }, sections);
}

function describe(rule) {
  return [...repositoryWords(rule), ", ", ...tagWords(rule)];
}

function immutabilitySection(rulesUrl) {
  const status = notice();
  status.id = "immutable-status";
  const rows = h("tbody");
  const count = h("span", { class: "count", id: "immutable-count" });
  const add = h("button", { type: "button", id: "add-immutable-rule", onclick: () => ruleDialog(null) }, "Add rule");

  async function load() {
    try {
      const { data } = await getJson(`${rulesUrl}?page_size=${MAX_RULES}`);
      rows.replaceChildren(...data.map(immutableRow));
      if (data.length === 0) rows.append(noRules());
      count.textContent = `${data.length}/${MAX_RULES}`;
      add.disabled = data.length >= MAX_RULES;
    } catch (err) {
      status.show(failure("list the immutability rules", err), "error");
    }
  }

  async function change(method, rule, body, done, what) {
    status.clear();
    try {
      await request(method, `${rulesUrl}/${Number(rule.id)}`, body);
      status.show(done);
    } catch (err) {
      status.show(failure(what, err), "error");
    }
    await load();
  }

  function immutableRow(rule) {
    const toggle = () =>
      change(
        "PUT",
        rule,
        { ...rule, disabled: !rule.disabled },
        `Rule ${rule.disabled ? "enabled" : "disabled"}.`,
        `${rule.disabled ? "enable" : "disable"} the rule`,
      );
    const remove = () => {
      if (!window.confirm("Delete this tag immutability rule? Its tags can then be moved and deleted.")) return;
      change("DELETE", rule, undefined, "Rule deleted.", "delete the rule");
    };
    return ruleRow(rule, { describe, edit: () => ruleDialog(rule), toggle, remove });
  }

  // Adds a rule (rule null) or edits one, Harbor's two selects and two patterns.
  function ruleDialog(rule) {
    status.clear();
    const selectors = selectorFields("immutable", rule);
    formDialog({
      id: "immutable-rule-dialog",
      title: rule ? "Edit Tag Immutability Rule" : "Add Tag Immutability Rule",
      what: rule ? "change the rule" : "add the rule",
      submitLabel: rule ? "Save" : "Add",
      body: [
        h("p", { class: "hint" }, "The tags a rule matches cannot be moved by a push, nor deleted."),
        ...selectors.fields,
      ],
      submit: async () => {
        const body = {
          ...(rule ?? NEW_RULE),
          tag_selectors: [selectors.tag()],
          scope_selectors: { repository: [selectors.repository()] },
        };
        if (rule) await request("PUT", `${rulesUrl}/${Number(rule.id)}`, body);
        else await request("POST", rulesUrl, body);
        status.show(rule ? "Rule saved." : "Rule added.");
        await load();
      },
    });
  }

  load();
  return h(
    "section",
    { id: "tag-immutability", "aria-labelledby": "tag-immutability-title" },
    h("h2", { id: "tag-immutability-title" }, "Tag Immutability", count),
    status,
    h("div", { class: "toolbar" }, add),
    ruleTable("immutable-rules", rows),
  );
}
