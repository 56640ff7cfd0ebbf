// Building the DOM without innerHTML: every text ends up in a text node, so data is never markup.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// A link the app's router follows without reloading the page (see app.js).
export function link(href, ...children) {
  return h("a", { href, "data-nav": "" }, ...children);
}

// A labelled form field.
export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

// A field whose control is more than one input (a number and its unit): the label names the first, by id.
export function fieldFor(label, id, control) {
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

// The number typed into an input, null when it is empty.
export function numberValue(input) {
  const text = input.value.trim();
  return text === "" ? null : Number(text);
}

// A status line (role=status, or role=alert for errors) that says one thing at a time.
export function notice() {
  const el = h("p", { class: "notice", hidden: true });
  el.show = (text, kind = "info") => {
    el.textContent = text;
    el.className = `notice ${kind}`;
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.hidden = false;
  };
  el.clear = () => {
    el.hidden = true;
    el.textContent = "";
  };
  return el;
}

// Prev / next buttons and "page x of y" for a list with X-Total-Count.
export function pager(page, pageSize, total, go) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return h(
    "nav",
    { class: "pager", "aria-label": "pages" },
    h("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1) }, "‹ Previous"),
    h("span", {}, `Page ${page} of ${pages} (${total} in all)`),
    h("button", { type: "button", disabled: page >= pages, onclick: () => go(page + 1) }, "Next ›"),
  );
}

export function formatTime(iso) {
  const t = new Date(iso);
  // Harbor's "never" is null or the zero time 0001-01-01.
  return !iso || Number.isNaN(t.getTime()) || t.getUTCFullYear() < 1970 ? "" : t.toLocaleString();
}

// How long from `start` to `end` ("45s", "2m 5s", "1h 0m 3s"); "" while there is no end.
export function formatDuration(start, end) {
  const ms = new Date(end).getTime() - new Date(start).getTime();
  if (!start || !end || Number.isNaN(ms) || ms < 0) return "";
  const seconds = Math.round(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (hours > 0) return `${hours}h ${minutes}m ${seconds % 60}s`;
  return minutes > 0 ? `${minutes}m ${seconds % 60}s` : `${seconds}s`;
}

// 1536 → "1.5 KiB": sizes as the registry counts them, in binary units.
export function formatSize(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

// "You may not" for a 403, the API's own words otherwise.
export function failure(what, err) {
  return err.status === 403 ? `You are not allowed to ${what}: ${err.message}` : `Could not ${what}: ${err.message}`;
}

// A form dialog's test button (Test connection, Test endpoint): call() makes the request, and `tested` says
// how it went. A refusal of OK the dialog `dialogId` showed earlier is cleared: it no longer holds once the
// fields are tested again.
export function testButton({ id, label, dialogId, tested, what, success, call }) {
  const onclick = async () => {
    tested.clear();
    document.getElementById(`${dialogId}-status`)?.clear();
    try {
      await call();
      tested.show(success);
    } catch (err) {
      tested.show(failure(what, err), "error");
    }
  };
  return h("button", { type: "button", class: "secondary", id, onclick }, label);
}

// A modal dialog holding a form, as Harbor's modals: `body` (its fields), a status line and the submit and
// Cancel buttons. submit() does the work: when it resolves the dialog closes; when it throws, the refusal is
// shown in the dialog (failure(what, err): the API's own words) and the fields keep what was typed. Closed
// (done, Cancel or Escape), the dialog leaves the page.
export function formDialog({ id, title, what, submitLabel = "Save", body, submit }) {
  const status = notice();
  status.id = `${id}-status`;
  const save = h("button", { type: "submit", id: `${id}-save` }, submitLabel);
  const dialog = h("dialog", { id, class: "card form-dialog", "aria-labelledby": `${id}-title` });
  const close = () => dialog.close();
  const onsubmit = async (event) => {
    event.preventDefault();
    status.clear();
    save.disabled = true;
    try {
      await submit();
    } catch (err) {
      status.show(failure(what, err), "error");
      save.disabled = false;
      return;
    }
    close();
  };
  dialog.addEventListener("close", () => dialog.remove());
  dialog.append(
    h(
      "form",
      // The API judges every value (its message names the field), not the browser.
      { novalidate: true, onsubmit },
      h("h2", { id: `${id}-title` }, title),
      body,
      status,
      h(
        "div",
        { class: "toolbar buttons" },
        save,
        h("button", { type: "button", class: "secondary", onclick: close }, "Cancel"),
      ),
    ),
  );
  document.body.append(dialog);
  showModal(dialog);
  return dialog;
}

const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled])";

// A modal dialog that keeps the keyboard's focus: Tab past its last control comes back to its first (and
// Shift+Tab the other way), instead of leaving for the browser's own controls; closed, it gives the focus
// back to what had it before.
export function showModal(dialog) {
  const before = document.activeElement;
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const controls = [...dialog.querySelectorAll(FOCUSABLE)].filter((el) => el.offsetParent !== null);
    if (controls.length === 0) return;
    const first = controls[0];
    const last = controls[controls.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
  dialog.addEventListener("close", () => {
    if (before instanceof HTMLElement && before.isConnected) before.focus();
  });
  dialog.showModal();
}
