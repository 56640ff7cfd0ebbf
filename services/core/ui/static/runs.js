// What the pages that run jobs share (Clean Up's system jobs in cleanup.js, a project's tag retention in
// retention.js): Harbor's schedule editor, and a run history read again every POLL_MS while a run is
// pending or running, and no more once its page is left.

import { failure, field, h } from "./dom.js";

const POLL_MS = 2000;
export const ACTIVE = new Set(["Pending", "Running"]);
// Harbor's schedule presets (six fields, seconds first), as its UI sends them.
const PRESETS = { Hourly: "0 0 * * * *", Daily: "0 0 0 * * *", Weekly: "0 0 0 * * 0" };
const SCHEDULE_TYPES = ["None", "Hourly", "Daily", "Weekly", "Custom"];

// The type a bare cron is (a retention policy keeps only its cron): a preset's, None when there is none,
// Custom otherwise.
export function scheduleTypeOf(cron) {
  if (!cron) return "None";
  return Object.keys(PRESETS).find((type) => PRESETS[type] === cron) ?? "Custom";
}

// The schedule's type (`${id}-type`: None, Hourly, Daily, Weekly, Custom) and, for Custom only, its cron
// (`${id}-cron`). set(type, cron) shows a schedule; cron() is the expression to send for what is chosen,
// "" for None.
export function scheduleEditor(id) {
  const kind = h(
    "select",
    { id: `${id}-type` },
    SCHEDULE_TYPES.map((t) => h("option", { value: t }, t)),
  );
  const cron = h("input", { id: `${id}-cron`, placeholder: "0 0 3 * * *", autocomplete: "off" });
  const cronField = field("Cron (six fields, seconds first)", cron);
  const showCron = () => {
    cronField.hidden = kind.value !== "Custom";
  };
  kind.addEventListener("change", showCron);
  showCron();
  return {
    fields: [field("Schedule", kind), cronField],
    type: () => kind.value,
    cron: () => (kind.value === "Custom" ? cron.value.trim() : (PRESETS[kind.value] ?? "")),
    set(type, expression) {
      kind.value = SCHEDULE_TYPES.includes(type) ? type : "Custom";
      cron.value = expression ?? "";
      showCron();
    },
  };
}

// A history's reader: load() fetches it (fetch() → the API's answer) and draws it (render(answer)), or
// shows the refusal (fail(err)); while active(answer) it reads again after POLL_MS, as long as `owner` is
// in the document (a page the router replaced is read no more). An answer a newer read overtook (a click
// and a poll in flight together) is dropped.
export function polledHistory({ owner, fetch, render, active, fail }) {
  let loads = 0;
  let timer = null;

  async function load() {
    clearTimeout(timer);
    timer = null;
    const seq = ++loads;
    let again = false;
    try {
      const answer = await fetch();
      if (seq !== loads) return;
      render(answer);
      again = active(answer);
    } catch (err) {
      if (seq !== loads) return;
      fail(err);
    }
    if (again && owner.isConnected) timer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    if (owner.isConnected) load();
  }

  return load;
}

// A run's status, coloured as app.css colours job statuses.
export function statusCell(state) {
  return h("td", { class: `job-status ${String(state).toLowerCase()}` }, state);
}

// A Stop for a run still pending or running ("" for one that has ended): send() asks the API to stop it,
// `status` says what came of it and reload() reads the history again.
export function stopButton({ runId, state, send, status, reload }) {
  if (!ACTIVE.has(state)) return "";
  const stop = async () => {
    status.clear();
    try {
      await send();
      status.show(`Stop of run ${runId} requested.`);
      await reload();
    } catch (err) {
      status.show(failure(`stop run ${runId}`, err), "error");
    }
  };
  return h("button", { type: "button", class: "danger", onclick: stop }, "Stop");
}
