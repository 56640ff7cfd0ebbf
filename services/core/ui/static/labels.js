// Labels, as Harbor draws them: the system's global labels (Administration › Labels, /harbor/labels) and a
// project's (its Labels tab, /harbor/projects/{id}/labels). GET /api/v2.0/labels?scope=g|p lists them;
// one form creates a label (POST) or, after Edit, changes it (PUT); Delete asks first. The API judges
// every field, and its message (a duplicate name, a bad colour) is shown as it is.

import { API, getJson, request } from "./api.js";
import { failure, field, formatTime, h, notice, pager } from "./dom.js";

const PAGE_SIZE = 15;
const DEFAULT_COLOR = "#0065ab";

export function systemLabelsPage() {
  return h("section", { class: "labels" }, h("h1", {}, "Labels"), labelsView({ scope: "g", projectId: null }));
}

export function projectLabelsTab({ project }) {
  return labelsView({ scope: "p", projectId: Number(project.project_id) });
}

// A label's name on its colour, as Harbor's chips (dark text on a light colour, white on a dark one).
export function labelChip(label) {
  const color = /^#[0-9a-f]{6}$/i.test(label.color) ? label.color : "";
  const chip = h("span", { class: "label-chip" }, label.name);
  if (color) {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
    chip.style.background = color;
    chip.style.color = r * 0.299 + g * 0.587 + b * 0.114 > 150 ? "#1d2733" : "#fff";
  }
  return chip;
}

function labelsView({ scope, projectId }) {
  let page = 1;
  let editing = null; // the label the form changes; null: the form creates one
  const status = notice();
  status.id = "label-status";
  const rows = h("tbody");
  const paging = h("div");

  const name = h("input", { id: "label-name", maxlength: 128, autocomplete: "off" });
  const color = h("input", { type: "color", id: "label-color", value: DEFAULT_COLOR });
  const description = h("input", { id: "label-description", class: "wide", autocomplete: "off" });
  const title = h("h2", {}, "New label");
  const submit = h("button", { type: "submit", id: "label-save" }, "Create");
  const cancel = h("button", { type: "button", id: "label-cancel", class: "secondary", hidden: true }, "Cancel");

  function reset() {
    editing = null;
    title.textContent = "New label";
    submit.textContent = "Create";
    cancel.hidden = true;
    name.value = "";
    color.value = DEFAULT_COLOR;
    description.value = "";
  }

  function edit(label) {
    status.clear();
    editing = label;
    title.textContent = `Edit label ${label.name}`;
    submit.textContent = "Save";
    cancel.hidden = false;
    name.value = label.name;
    color.value = /^#[0-9a-f]{6}$/i.test(label.color) ? label.color : DEFAULT_COLOR;
    description.value = label.description;
    name.focus();
  }

  async function load() {
    const query = new URLSearchParams({ scope, page, page_size: PAGE_SIZE, sort: "name" });
    if (projectId !== null) query.set("project_id", projectId);
    try {
      const { data, total } = await getJson(`${API}/labels?${query}`);
      rows.replaceChildren(...data.map(labelRow));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No labels.")));
      paging.replaceChildren(
        pager(page, PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(failure("list the labels", err), "error");
    }
  }

  function labelRow(label) {
    const remove = async () => {
      if (!window.confirm(`Delete the label ${label.name}? It is taken off every artifact.`)) return;
      status.clear();
      try {
        await request("DELETE", `${API}/labels/${Number(label.id)}`);
        if (editing?.id === label.id) reset();
        status.show(`Label ${label.name} deleted.`);
        await load();
      } catch (err) {
        status.show(failure(`delete the label ${label.name}`, err), "error");
      }
    };
    return h(
      "tr",
      { "data-id": label.id, "data-name": label.name },
      h("td", { class: "name" }, labelChip(label)),
      h("td", { class: "description" }, label.description),
      h("td", {}, formatTime(label.creation_time)),
      h(
        "td",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => edit(label) }, "Edit"),
        h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
      ),
    );
  }

  async function save(event) {
    event.preventDefault();
    status.clear();
    const fields = { name: name.value.trim(), color: color.value, description: description.value };
    try {
      if (editing === null) {
        await request("POST", `${API}/labels`, {
          ...fields,
          scope,
          ...(projectId === null ? {} : { project_id: projectId }),
        });
        status.show(`Label ${fields.name} created.`);
      } else {
        await request("PUT", `${API}/labels/${Number(editing.id)}`, fields);
        status.show(`Label ${fields.name} saved.`);
      }
    } catch (err) {
      // The form keeps what was typed, for the user to correct.
      status.show(failure(editing === null ? "create the label" : `change the label ${editing.name}`, err), "error");
      return;
    }
    reset();
    await load();
  }

  cancel.addEventListener("click", () => {
    status.clear();
    reset();
  });
  load();
  return h(
    "div",
    { class: "labels-view" },
    projectId === null ? null : h("h2", {}, "Labels"),
    h(
      "form",
      { class: "inline card", id: "label-form", novalidate: true, onsubmit: save },
      title,
      field("Name", name),
      field("Color", color),
      field("Description", description),
      submit,
      cancel,
    ),
    status,
    h(
      "table",
      { id: "labels" },
      h("thead", {}, h("tr", {}, ["Name", "Description", "Created", ""].map((t) => h("th", {}, t)))),
      rows,
    ),
    paging,
  );
}
