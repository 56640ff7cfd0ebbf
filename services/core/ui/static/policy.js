// A project's Policy tab, as Harbor draws it: Tag Retention and Tag Immutability. Immutability lists
// GET /api/v2.0/projects/{id}/immutabletagrules (at most 15 a project), each rule one repository selector
// and one tag selector, worded as Harbor words them ("For the repositories matching **, tags matching
// v*"); a dialog adds (POST) and edits (PUT) one, Disable / Enable sends the rule back with only `disabled`
// changed, Delete asks first. The API judges every pattern, and its message is shown as it is. Who sees
// which section is decided from the roles (services/common/rbac.py), so no refused probe is logged.

import { getJson, request } from "./api.js";
import { failure, field, formDialog, h, notice } from "./dom.js";

const MAX_RULES = 15;
// immutable-tag create/update/delete/list: project admins and maintainers.
const IMMUTABLE_RULE_EDITORS = [1, 4];
// tag-retention read: project admins, maintainers and developers (a superset of the editors above, so
// also who is offered the tab).
const RETENTION_READERS = [1, 2, 4];
export const POLICY_READERS = RETENTION_READERS;

const KIND = "doublestar";
// Harbor's selector decorations and the words its rule list uses for them.
const REPOSITORY_DECORATIONS = [
  ["repoMatches", "matching"],
  ["repoExcludes", "excluding"],
];
const TAG_DECORATIONS = [
  ["matches", "matching"],
  ["excludes", "excluding"],
];
const NEW_RULE = { priority: 0, disabled: false, action: "immutable", template: "immutable_template", params: {} };

export function policyTab({ base, holds }) {
  const sections = [];
  if (holds(RETENTION_READERS)) sections.push(retentionSection());
  if (holds(IMMUTABLE_RULE_EDITORS)) sections.push(immutabilitySection(`${base}/immutabletagrules`));
  if (sections.length === 0) {
    sections.push(h("p", { class: "notice" }, "Your role in this project has no policies to show."));
  }
  return h("div", { class: "policy" }, sections);
}

// Tag retention (issue 13 item 3) comes next: its place is kept here, with nothing to press yet.
function retentionSection() {
  return h(
    "section",
    { id: "tag-retention", "aria-labelledby": "tag-retention-title" },
    h("h2", { id: "tag-retention-title" }, "Tag Retention"),
    h("p", { class: "hint" }, "Tag retention rules are not available yet."),
  );
}

// Harbor's comma list: "a,b" goes to the API as the doublestar alternation {a,b}, and is shown without
// its braces; spaces are dropped, as no repository name or tag has one.
function toPattern(text) {
  const pattern = text.replace(/\s+/g, "");
  return pattern.includes(",") && !/[{}]/.test(pattern) ? `{${pattern}}` : pattern;
}

function fromPattern(pattern) {
  return /^\{\S+\}$/.test(pattern ?? "") ? pattern.slice(1, -1) : (pattern ?? "");
}

function word(decorations, decoration) {
  return decorations.find(([value]) => value === decoration)?.[1] ?? String(decoration ?? "");
}

function describe(rule) {
  const repository = rule.scope_selectors?.repository?.[0] ?? {};
  const tag = rule.tag_selectors?.[0] ?? {};
  return [
    `For the repositories ${word(REPOSITORY_DECORATIONS, repository.decoration)} `,
    h("span", { class: "rule-pattern" }, fromPattern(repository.pattern)),
    `, tags ${word(TAG_DECORATIONS, tag.decoration)} `,
    h("span", { class: "rule-pattern" }, fromPattern(tag.pattern)),
  ];
}

function decorationSelect(id, decorations, value) {
  const select = h(
    "select",
    { id },
    decorations.map(([v, text]) => h("option", { value: v }, text)),
  );
  if (value) select.value = value;
  return select;
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
      rows.replaceChildren(...data.map(ruleRow));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 3, class: "empty" }, "No rules.")));
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

  function ruleRow(rule) {
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
    return h(
      "tr",
      { "data-id": rule.id, class: rule.disabled ? "disabled" : null },
      h("td", { class: "state" }, rule.disabled ? "Disabled" : "Enabled"),
      h("td", { class: "rule" }, describe(rule)),
      h(
        "td",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => ruleDialog(rule) }, "Edit"),
        h("button", { type: "button", class: "secondary", onclick: toggle }, rule.disabled ? "Enable" : "Disable"),
        h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
      ),
    );
  }

  // Adds a rule (rule null) or edits one, Harbor's two selects and two patterns.
  function ruleDialog(rule) {
    status.clear();
    const repository = rule?.scope_selectors?.repository?.[0];
    const tag = rule?.tag_selectors?.[0];
    const repoDecoration = decorationSelect(
      "immutable-repo-decoration",
      REPOSITORY_DECORATIONS,
      repository?.decoration,
    );
    const repoPattern = h("input", { id: "immutable-repo-pattern", class: "wide", autocomplete: "off" });
    repoPattern.value = repository ? fromPattern(repository.pattern) : "**";
    const tagDecoration = decorationSelect("immutable-tag-decoration", TAG_DECORATIONS, tag?.decoration);
    const tagPattern = h("input", { id: "immutable-tag-pattern", class: "wide", autocomplete: "off" });
    tagPattern.value = tag ? fromPattern(tag.pattern) : "**";
    formDialog({
      id: "immutable-rule-dialog",
      title: rule ? "Edit Tag Immutability Rule" : "Add Tag Immutability Rule",
      what: rule ? "change the rule" : "add the rule",
      submitLabel: rule ? "Save" : "Add",
      body: [
        h("p", { class: "hint" }, "The tags a rule matches cannot be moved by a push, nor deleted."),
        h(
          "div",
          { class: "inline" },
          field("For the repositories", repoDecoration),
          field("Repository patterns", repoPattern),
        ),
        h("p", { class: "hint" }, "Enter multiple comma-separated repositories: repo, repo*, or **."),
        h("div", { class: "inline" }, field("Tags", tagDecoration), field("Tag patterns", tagPattern)),
        h("p", { class: "hint" }, "Enter multiple comma-separated tags: tag, tag*, or **."),
      ],
      submit: async () => {
        const body = {
          ...(rule ?? NEW_RULE),
          tag_selectors: [{ kind: KIND, decoration: tagDecoration.value, pattern: toPattern(tagPattern.value) }],
          scope_selectors: {
            repository: [{ kind: KIND, decoration: repoDecoration.value, pattern: toPattern(repoPattern.value) }],
          },
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
    h(
      "table",
      { id: "immutable-rules" },
      h("thead", {}, h("tr", {}, ["Status", "Rule", ""].map((t) => h("th", {}, t)))),
      rows,
    ),
  );
}
