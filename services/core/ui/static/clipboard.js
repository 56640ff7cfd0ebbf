// Copying text for the user, and the one-time dialog that shows a robot account's secret.

import { h, showModal } from "./dom.js";

// navigator.clipboard exists only in a secure context (https, or http on localhost); Berth is often
// served over plain http on a host name, where the old selection-and-execCommand copy still works.
// `within`: where the temporary text area goes (inside an open modal dialog, since what lies outside
// one cannot be selected).
export async function copyText(text, within = document.body) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = h("textarea", { readonly: true, class: "offscreen", "aria-hidden": "true" });
  area.value = text;
  within.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("the browser refused to copy; select the text and copy it yourself");
}

// The secret of a robot, after its creation or a refresh: the API shows it this once, so the dialog says
// so, offers a copy button, and takes the secret with it from the page when it closes.
export function showSecret(name, secret, what) {
  const nameInput = h("input", { id: "robot-secret-name", readonly: true, class: "wide", "aria-label": "Name" });
  nameInput.value = name;
  const secretInput = h("input", { id: "robot-secret", readonly: true, class: "wide", "aria-label": "Secret" });
  secretInput.value = secret;
  const said = h("p", { class: "hint", id: "robot-secret-copied", role: "status" });
  const dialog = h("dialog", { id: "robot-secret-dialog", class: "card", "aria-labelledby": "robot-secret-title" });
  const copy = async () => {
    try {
      await copyText(secretInput.value, dialog);
      said.textContent = "Secret copied.";
    } catch (err) {
      said.textContent = `Could not copy: ${err.message}`;
    }
  };
  const close = () => {
    dialog.close();
  };
  dialog.addEventListener("close", () => dialog.remove());
  dialog.append(
    h("h2", { id: "robot-secret-title" }, what),
    h("p", {}, "Copy the secret now: it is shown only this once, and cannot be read again later."),
    h("label", { class: "field" }, h("span", {}, "Name"), nameInput),
    h(
      "label",
      { class: "field" },
      h("span", {}, "Secret"),
      h("span", { class: "copy-row" }, secretInput, h("button", { type: "button", onclick: copy }, "Copy secret")),
    ),
    said,
    h("div", { class: "toolbar buttons" }, h("button", { type: "button", class: "secondary", onclick: close }, "Close")),
  );
  document.body.append(dialog);
  showModal(dialog);
  secretInput.select();
  return dialog;
}
