// Project quotas, as Harbor draws them: the storage editor (a number and a unit, -1 for unlimited) that
// Configuration's storage_per_project, the New Project form and the quota dialog share; the quota bar
// (used of limit) of the project list, a project's page and Administration › Project Quotas
// (/harbor/project-quotas), which lists GET /api/v2.0/quotas sorted by used storage and sets a project's
// limit with PUT /api/v2.0/quotas/{id}. The API alone judges a limit: its message names hard.storage.

import { API, getJson, request } from "./api.js";
import { failure, fieldFor, formDialog, formatSize, h, link, notice, numberValue, pager } from "./dom.js";

const PAGE_SIZE = 15;
const MIB = 2 ** 20;
const GIB = 2 ** 30;
// Harbor's quota units, largest first (a stored size is shown in the largest that divides it).
const STORAGE_UNITS = [
  ["TiB", 2 ** 40],
  ["GiB", GIB],
  ["MiB", MIB],
];
export const UNLIMITED = -1;
// Where the bar turns to a warning: the share of the limit at which the registry warns of a push too
// (services/common/quota.py WARNING_PERCENT).
const WARNING_SHARE = 0.85;

// 1073741824 → "1 GiB": a limit in the largest unit that divides it, -1 as Harbor says it.
export function formatLimit(bytes) {
  if (bytes === UNLIMITED) return "Unlimited";
  const unit = STORAGE_UNITS.find(([, size]) => bytes > 0 && bytes % size === 0);
  return unit ? `${bytes / unit[1]} ${unit[0]}` : formatSize(bytes);
}

// Bytes as a number and a unit, -1 for unlimited, as { element, read(), write(bytes) }: read() is what the
// API takes (null for an empty number). `unlimited` adds an "Unlimited" checkbox that sends -1.
export function storageInput(id, { unlimited = false } = {}) {
  const amount = h("input", { type: "number", id, min: UNLIMITED, step: "any", class: "number" });
  const unit = h(
    "select",
    { id: `${id}-unit`, "aria-label": "Unit" },
    [...STORAGE_UNITS].reverse().map(([label, bytes]) => h("option", { value: bytes }, label)),
  );
  unit.value = String(GIB);
  const box = unlimited ? h("input", { type: "checkbox", id: `${id}-unlimited` }) : null;
  const sync = () => {
    amount.disabled = box.checked;
    unit.disabled = box.checked;
  };
  box?.addEventListener("change", sync);
  return {
    element: h(
      "span",
      { class: "storage-input" },
      amount,
      unit,
      box ? h("label", { class: "check" }, box, "Unlimited") : null,
    ),
    read: () => {
      if (box?.checked) return UNLIMITED;
      const n = numberValue(amount);
      if (n === null || n === UNLIMITED) return n;
      return Math.round(n * Number(unit.value));
    },
    write: (bytes) => {
      if (box) {
        box.checked = bytes === UNLIMITED;
        sync();
      }
      if (bytes === UNLIMITED) {
        amount.value = box ? "" : String(UNLIMITED);
        unit.value = String(GIB);
        return;
      }
      // A size set through the API needs no whole MiB: it is shown as a fraction of one.
      const [, size] = STORAGE_UNITS.find(([, b]) => bytes % b === 0) ?? ["MiB", MIB];
      amount.value = String(bytes / size);
      unit.value = String(size);
    },
  };
}

// Harbor's quota bar: "1.5 MiB of 1 GiB" beside a bar of the share used, which turns to a warning where
// the registry starts warning; an unlimited quota has no bar.
export function quotaBar(used, hard) {
  const text = h("span", { class: "quota-text" }, `${formatSize(used)} of ${formatLimit(hard)}`);
  if (hard === UNLIMITED) return h("span", { class: "quota unlimited" }, text);
  const max = Math.max(hard, 1);
  const bar = h("meter", {
    min: 0,
    max,
    value: Math.min(used, max),
    low: max * WARNING_SHARE,
    high: max * WARNING_SHARE,
    optimum: 0,
    "aria-label": "Storage used",
  });
  return h("span", { class: "quota" }, bar, text);
}

// The dialog that sets one project's limit; onSaved(hard) once the API took it.
export function editQuota(quota, onSaved) {
  const name = quota.ref.name;
  const limit = storageInput("quota-hard", { unlimited: true });
  limit.write(quota.hard.storage);
  formDialog({
    id: "quota-dialog",
    title: `Edit the quota of ${name}`,
    what: `change the quota of ${name}`,
    body: [
      fieldFor("Storage quota", "quota-hard", limit.element),
      h(
        "p",
        { class: "hint" },
        `In use now: ${formatSize(quota.used.storage)}. A limit below it refuses every push that adds more.`,
      ),
    ],
    submit: async () => {
      const hard = limit.read();
      await request("PUT", `${API}/quotas/${Number(quota.id)}`, { hard: { storage: hard } });
      await onSaved(hard);
    },
  });
}

export function projectQuotasPage() {
  let page = 1;
  let descending = true; // the largest users first
  const status = notice();
  status.id = "quota-status";
  const rows = h("tbody");
  const paging = h("div");
  const defaults = h("p", { class: "hint", id: "quota-default" });
  const sortButton = h("button", { type: "button", class: "sort", id: "quota-sort" });
  const storageHeader = h("th", {}, sortButton);

  function drawSort() {
    sortButton.textContent = `Storage ${descending ? "▼" : "▲"}`;
    sortButton.setAttribute("aria-label", `Storage, sorted by use, ${descending ? "largest" : "smallest"} first`);
    storageHeader.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  sortButton.addEventListener("click", () => {
    descending = !descending;
    page = 1;
    drawSort();
    load();
  });

  async function load() {
    const query = new URLSearchParams({
      reference: "project",
      sort: `${descending ? "-" : ""}used.storage`,
      page,
      page_size: PAGE_SIZE,
    });
    try {
      const { data, total } = await getJson(`${API}/quotas?${query}`);
      rows.replaceChildren(...data.map(quotaRow));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No quotas.")));
      paging.replaceChildren(
        pager(page, PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(failure("list the quotas", err), "error");
    }
  }

  async function loadDefault() {
    try {
      const { data } = await getJson(`${API}/configurations`);
      const value = data.storage_per_project?.value;
      if (typeof value !== "number") return;
      defaults.replaceChildren(
        `New projects get ${formatLimit(value)} by default, as System Settings in `,
        link("/harbor/configs/setting", "Configuration"),
        " say.",
      );
    } catch (err) {
      status.show(failure("read the default quota", err), "error");
    }
  }

  function quotaRow(q) {
    const edit = () => {
      status.clear();
      editQuota(q, async (hard) => {
        status.show(`The quota of ${q.ref.name} is now ${formatLimit(hard)}.`);
        await load();
      });
    };
    return h(
      "tr",
      { "data-id": q.id, "data-project": q.ref.name },
      h("td", { class: "name" }, link(`/harbor/projects/${Number(q.ref.id)}`, q.ref.name)),
      h("td", { class: "owner" }, q.ref.owner_name),
      h("td", { class: "usage" }, quotaBar(q.used.storage, q.hard.storage)),
      h("td", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: edit }, "Edit")),
    );
  }

  drawSort();
  loadDefault();
  load();
  return h(
    "section",
    { class: "project-quotas" },
    h("h1", {}, "Project Quotas"),
    defaults,
    status,
    h(
      "table",
      { id: "quotas" },
      h("thead", {}, h("tr", {}, h("th", {}, "Project"), h("th", {}, "Owner"), storageHeader, h("th", {}, ""))),
      rows,
    ),
    paging,
  );
}
