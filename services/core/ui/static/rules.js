// What a project's tag immutability rules (policy.js) and tag retention rules (retention.js) have in common,
// as Harbor draws both: one repository selector and one tag selector per rule (doublestar patterns,
// matching or excluding), at most 15 rules, and a table of them, each with Edit, Disable / Enable and
// Delete.

import { field, h } from "./dom.js";

export const MAX_RULES = 15;
const KIND = "doublestar";
// Harbor's selector decorations and the words its rule lists use for them.
const REPOSITORY_DECORATIONS = [
  ["repoMatches", "matching"],
  ["repoExcludes", "excluding"],
];
const TAG_DECORATIONS = [
  ["matches", "matching"],
  ["excludes", "excluding"],
];

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

export function repositorySelector(rule) {
  return rule?.scope_selectors?.repository?.[0];
}

export function tagSelector(rule) {
  return rule?.tag_selectors?.[0];
}

// "For the repositories matching apps/**" and "tags matching v1,v2", the two halves of a rule's wording.
export function repositoryWords(rule) {
  const repository = repositorySelector(rule) ?? {};
  return [
    `For the repositories ${word(REPOSITORY_DECORATIONS, repository.decoration)} `,
    h("span", { class: "rule-pattern" }, fromPattern(repository.pattern)),
  ];
}

export function tagWords(rule) {
  const tag = tagSelector(rule) ?? {};
  return [
    `tags ${word(TAG_DECORATIONS, tag.decoration)} `,
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

function patternInput(id, selector) {
  const input = h("input", { id, class: "wide", autocomplete: "off" });
  input.value = selector ? fromPattern(selector.pattern) : "**";
  return input;
}

// A rule dialog's two selectors, ids `${prefix}-repo-decoration`, `-repo-pattern`, `-tag-decoration`,
// `-tag-pattern`, filled from `rule` (null: matching **). `besideTags` goes after the tag pattern.
// repository() and tag() read them into the API's selectors.
export function selectorFields(prefix, rule, besideTags = null) {
  const repository = repositorySelector(rule);
  const tag = tagSelector(rule);
  const repoDecoration = decorationSelect(`${prefix}-repo-decoration`, REPOSITORY_DECORATIONS, repository?.decoration);
  const repoPattern = patternInput(`${prefix}-repo-pattern`, repository);
  const tagDecoration = decorationSelect(`${prefix}-tag-decoration`, TAG_DECORATIONS, tag?.decoration);
  const tagPattern = patternInput(`${prefix}-tag-pattern`, tag);
  return {
    fields: [
      h(
        "div",
        { class: "inline" },
        field("For the repositories", repoDecoration),
        field("Repository patterns", repoPattern),
      ),
      h("p", { class: "hint" }, "Enter multiple comma-separated repositories: repo, repo*, or **."),
      h("div", { class: "inline" }, field("Tags", tagDecoration), field("Tag patterns", tagPattern), besideTags),
      h("p", { class: "hint" }, "Enter multiple comma-separated tags: tag, tag*, or **."),
    ],
    repository: () => ({ kind: KIND, decoration: repoDecoration.value, pattern: toPattern(repoPattern.value) }),
    tag: () => ({ kind: KIND, decoration: tagDecoration.value, pattern: toPattern(tagPattern.value) }),
  };
}

// One rule of a rule table: its state, its wording (`describe(rule)`) and its buttons.
export function ruleRow(rule, { describe, edit, toggle, remove }) {
  return h(
    "tr",
    { "data-id": rule.id, class: rule.disabled ? "disabled" : null },
    h("td", { class: "state" }, rule.disabled ? "Disabled" : "Enabled"),
    h("td", { class: "rule" }, describe(rule)),
    h(
      "td",
      { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: edit }, "Edit"),
      h("button", { type: "button", class: "secondary", onclick: toggle }, rule.disabled ? "Enable" : "Disable"),
      h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
    ),
  );
}

// The table the rows go in (`rows`, a tbody), and what it says when there are none.
export function ruleTable(id, rows) {
  return h(
    "table",
    { id },
    h("thead", {}, h("tr", {}, ["Status", "Rule", ""].map((t) => h("th", {}, t)))),
    rows,
  );
}

export function noRules() {
  return h("tr", {}, h("td", { colspan: 3, class: "empty" }, "No rules."));
}
