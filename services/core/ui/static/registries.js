// Administration › Registries (/harbor/registries), as Harbor draws it: the remote registries replication
// pushes to and pulls from (GET /api/v2.0/registries), each added or edited in one dialog (its provider from
// GET /replication/adapters, Test connection: POST /registries/ping) and deleted after a confirmation. Core
// stores an endpoint only once it answers; its refusal (the reason the remote gave, the 412 of an endpoint
// a replication rule uses) is shown as it is. A stored password is never shown: an empty Access Secret in
// the edit dialog keeps it.

import { API, getJson, request } from "./api.js";
import { failure, field, formDialog, formatTime, h, notice, pager, testButton } from "./dom.js";

const PAGE_SIZE = 15;
const REGISTRIES = `${API}/registries`;
// The most one page of the API holds: the endpoints a replication rule's select offers.
const MAX_PAGE_SIZE = 100;
const STATUS_WORDS = { healthy: "Healthy", unhealthy: "Unhealthy" };
const TYPE_WORDS = { harbor: "Harbor", "docker-registry": "Docker Registry" };

export function typeWords(type) {
  return TYPE_WORDS[type] ?? String(type ?? "");
}

// Every endpoint (for a replication rule's select): the first page of the most the API gives at once.
export async function allRegistries() {
  return (await getJson(`${REGISTRIES}?${new URLSearchParams({ page_size: MAX_PAGE_SIZE, sort: "name" })}`)).data;
}

// A table with one header row of `headings` over `body`.
export function table(id, headings, body) {
  return h("table", { id }, h("thead", {}, h("tr", {}, headings.map((t) => h("th", {}, t)))), body);
}

// A paged list of the API as a table (the pages this one and replications.js draw): load() reads the page
// `state.page` of `url`, draws row(item) for each (or `empty` across the row) and a pager (with
// `pagerAlways` false, only when there is more than one page), and resolves to the items; fail(err) is told
// of a refusal (load() then resolves to null).
export function pagedTable({ id, headings, url, row, empty, fail, state = { page: 1 }, pageSize, pagerAlways }) {
  const body = h("tbody");
  const paging = h("div");
  const size = pageSize ?? PAGE_SIZE;
  async function load() {
    try {
      const query = new URLSearchParams({ page: state.page, page_size: size });
      const { data, total } = await getJson(`${url}?${query}`);
      body.replaceChildren(...data.map(row));
      if (data.length === 0) body.append(h("tr", {}, h("td", { colspan: headings.length, class: "empty" }, empty)));
      const go = (p) => {
        state.page = p;
        load();
      };
      paging.replaceChildren(pagerAlways === false && total <= size ? "" : pager(state.page, size, total, go));
      return data;
    } catch (err) {
      fail(err);
      return null;
    }
  }
  return { elements: [table(id, headings, body), paging], load };
}

export function registriesPage() {
  const status = notice();
  status.id = "registry-status";
  const list = pagedTable({
    id: "registries",
    headings: ["Name", "Status", "Endpoint URL", "Provider", "Verify Remote Cert", "Description", "Created", ""],
    url: REGISTRIES,
    row: registryRow,
    empty: "No endpoints.",
    fail: (err) => status.show(failure("list the endpoints", err), "error"),
  });

  const saved = (message) => async () => {
    status.show(message);
    await list.load();
  };

  function registryRow(r) {
    const edit = () => {
      status.clear();
      endpointDialog(r, saved(`Endpoint ${r.name} saved.`));
    };
    const remove = async () => {
      if (!window.confirm(`Delete the endpoint ${r.name}?`)) return;
      status.clear();
      try {
        await request("DELETE", `${REGISTRIES}/${Number(r.id)}`);
        await saved(`Endpoint ${r.name} deleted.`)();
      } catch (err) {
        status.show(failure(`delete the endpoint ${r.name}`, err), "error");
      }
    };
    return h(
      "tr",
      { "data-id": r.id, "data-name": r.name },
      h("td", { class: "name" }, r.name),
      h("td", { class: `registry-status ${r.status}` }, STATUS_WORDS[r.status] ?? String(r.status ?? "")),
      h("td", { class: "url" }, r.url),
      h("td", { class: "type" }, typeWords(r.type)),
      h("td", { class: "verify" }, r.insecure ? "No" : "Yes"),
      h("td", { class: "description" }, r.description),
      h("td", {}, formatTime(r.creation_time)),
      h(
        "td",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: edit }, "Edit"),
        h("button", { type: "button", class: "danger", onclick: remove }, "Delete"),
      ),
    );
  }

  const create = () => {
    status.clear();
    endpointDialog(null, saved("Endpoint created."));
  };

  const newButton = h("button", { type: "button", id: "new-registry", onclick: create }, "New endpoint");
  list.load();
  return h(
    "section",
    { class: "registries" },
    h("h1", {}, "Registries"),
    h("div", { class: "toolbar" }, newButton),
    status,
    list.elements,
  );
}

// New endpoint (registry null) or Edit: Harbor's fields, Test connection and OK. onSaved() once stored.
async function endpointDialog(registry, onSaved) {
  const editing = registry !== null;
  const tested = notice();
  tested.id = "registry-test-status";
  const type = h("select", { id: "registry-type", disabled: editing });
  try {
    const adapters = editing ? [registry.type] : (await getJson(`${API}/replication/adapters`)).data;
    type.append(...adapters.map((a) => h("option", { value: a }, typeWords(a))));
  } catch (err) {
    tested.show(failure("list the registry providers", err), "error");
  }
  const name = h("input", { id: "registry-name", maxlength: 64, autocomplete: "off" });
  const description = h("textarea", { id: "registry-description", rows: 2 });
  const url = h("input", { id: "registry-url", class: "wide", placeholder: "https://registry.example.com" });
  const accessKey = h("input", { id: "registry-access-key", autocomplete: "off" });
  const accessSecret = h("input", {
    type: "password",
    id: "registry-access-secret",
    autocomplete: "new-password",
    placeholder: editing ? "Unchanged unless typed" : "",
  });
  const verify = h("input", { type: "checkbox", id: "registry-verify" });
  const ca = h("textarea", { id: "registry-ca", rows: 4, placeholder: "-----BEGIN CERTIFICATE-----" });
  verify.checked = !registry?.insecure;
  if (editing) {
    name.value = registry.name;
    description.value = registry.description ?? "";
    url.value = registry.url;
    accessKey.value = registry.credential?.access_key ?? "";
    ca.value = registry.ca_certificate ?? "";
  }

  // What the remote is asked with: the fields as typed, the password only when one is (else the stored one).
  const remote = () => {
    const fields = {
      url: url.value.trim(),
      access_key: accessKey.value.trim(),
      insecure: !verify.checked,
      ca_certificate: ca.value.trim(),
    };
    if (accessSecret.value !== "") fields.access_secret = accessSecret.value;
    return fields;
  };

  const test = testButton({
    id: "registry-test",
    label: "Test connection",
    dialogId: "registry-dialog",
    tested,
    what: "connect to the endpoint",
    success: "Connection tested successfully",
    call: () =>
      request(
        "POST",
        `${REGISTRIES}/ping`,
        editing ? { id: Number(registry.id), ...remote() } : { type: type.value, ...remote() },
      ),
  });

  formDialog({
    id: "registry-dialog",
    title: editing ? `Edit endpoint ${registry.name}` : "New endpoint",
    what: editing ? `save the endpoint ${registry.name}` : "create the endpoint",
    submitLabel: "OK",
    body: [
      field("Provider", type),
      field("Name", name),
      field("Description", description),
      field("Endpoint URL", url),
      field("Access ID", accessKey),
      field("Access Secret", accessSecret),
      h("label", { class: "check" }, verify, "Verify Remote Cert"),
      field("CA certificate (PEM, trusted instead of the system's)", ca),
      h(
        "div",
        { class: "toolbar buttons" },
        test,
      ),
      tested,
    ],
    submit: async () => {
      tested.clear();
      const { access_key: key, access_secret: secret, ...rest } = remote();
      const common = { name: name.value.trim(), description: description.value, ...rest };
      if (editing) {
        await request("PUT", `${REGISTRIES}/${Number(registry.id)}`, {
          ...common,
          access_key: key,
          ...(secret === undefined ? {} : { access_secret: secret }),
        });
      } else {
        await request("POST", REGISTRIES, {
          ...common,
          type: type.value,
          credential: { type: "basic", access_key: key, access_secret: secret ?? "" },
        });
      }
      await onSaved();
    },
  });
}
