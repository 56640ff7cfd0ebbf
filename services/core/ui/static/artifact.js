// One artifact, as Harbor's artifact page shows it (GET .../artifacts/{digest}?with_tag&with_label&
// with_accessory): its digest with a copy button, type, size, push and pull times; its tags, each with its
// pull command (docker, podman; helm for a chart), removed with ×, added with a form, an immutable one
// marked; its labels, attached from those of the system and the project and detached with ×; an index's
// platforms, each a link to the child's page; its accessories (signatures, SBOMs, other referrers), each
// with its own; and from the additions, an image's build history, or a chart's README and values.yaml
// (shown as text: markup in them never runs). The API decides who may change what; a refusal is shown as
// its message; a button it would refuse (permissions.js) is not shown.

import { API, getJson, request } from "./api.js";
import { copyText } from "./clipboard.js";
import { failure, field, formatSize, formatTime, h, link, notice } from "./dom.js";
import { projectPermissions } from "./permissions.js";
import { repositoryApi, repositoryHref } from "./repositories.js";

export function artifactHref(projectId, repository, digest) {
  return `${repositoryHref(projectId, repository)}/artifacts-tab/artifacts/${digest}`;
}

// Harbor's pull commands, by digest and by tag; a chart is pulled by version only.
function pullCommands(host, a, tag = null) {
  const where = `${host}/${a.repository_name}`;
  if (a.type === "CHART") return tag === null ? [] : [`helm pull oci://${where} --version ${tag}`];
  const ref = tag === null ? `@${a.digest}` : `:${tag}`;
  return [`docker pull ${where}${ref}`, `podman pull ${where}${ref}`];
}

export function artifactPage({ params, info }) {
  const host = info?.registry_url || location.host;
  const projectId = Number(params[0]);
  const repository = params[1];
  const digest = params[2];
  const path = `${repositoryApi(projectId, repository)}/artifacts/${encodeURIComponent(digest)}`;
  const status = notice();
  const title = h("h1", {}, `Artifact ${digest.slice(0, 19)}`);
  const body = h("div", { class: "artifact" });

  function copyButton(text, label) {
    const copy = async () => {
      try {
        await copyText(text);
        status.show(`Copied: ${text}`);
      } catch (err) {
        status.show(`Could not copy: ${err.message}`, "error");
      }
    };
    return h("button", { type: "button", class: "copy", "aria-label": label, "data-command": text, onclick: copy }, "Copy");
  }

  async function change(method, url, data, done, what) {
    try {
      await request(method, url, data);
      status.show(done);
      await load();
    } catch (err) {
      status.show(failure(what, err), "error");
    }
  }

  function commandList(commands) {
    return h(
      "ul",
      { class: "commands" },
      commands.map((c) => h("li", {}, h("code", {}, c), copyButton(c, `Copy ${c}`))),
    );
  }

  function tagsSection(a, may) {
    const name = h("input", { id: "new-tag", name: "tag", required: true, maxlength: 128, "aria-label": "New tag" });
    const add = (event) => {
      event.preventDefault();
      const tag = name.value.trim();
      change("POST", `${path}/tags`, { name: tag }, `Tag ${tag} added.`, `add the tag ${tag}`);
    };
    const rows = (a.tags ?? []).map((t) =>
      h(
        "li",
        { class: "tag-row", "data-tag": t.name },
        h("span", { class: "tag" }, t.name, t.immutable ? h("span", { class: "badge immutable" }, "immutable") : null),
        may("tag", "delete") &&
          h(
          "button",
          {
            type: "button",
            class: "remove-tag",
            "aria-label": `Remove tag ${t.name}`,
            onclick: () => {
              if (!window.confirm(`Remove the tag ${t.name}?`)) return;
              const url = `${path}/tags/${encodeURIComponent(t.name)}`;
              change("DELETE", url, undefined, `Tag ${t.name} removed.`, `remove the tag ${t.name}`);
            },
          },
          "×",
        ),
        commandList(pullCommands(host, a, t.name)),
      ),
    );
    return h(
      "section",
      { id: "artifact-tags" },
      h("h2", {}, "Tags"),
      rows.length ? h("ul", { class: "plain" }, rows) : h("p", { class: "muted" }, "No tags."),
      may("tag", "create") &&
        h("form", { class: "inline", id: "add-tag", onsubmit: add }, field("Tag", name), h("button", { type: "submit" }, "Add tag")),
    );
  }

  async function labelsSection(a, may) {
    const attached = new Set((a.labels ?? []).map((l) => l.id));
    const chips = (a.labels ?? []).map((l) =>
      h(
        "span",
        { class: "tag label", "data-label": l.name },
        l.name,
        may("artifact-label", "delete") &&
          h(
          "button",
          {
            type: "button",
            "aria-label": `Detach label ${l.name}`,
            onclick: () =>
              change("DELETE", `${path}/labels/${Number(l.id)}`, undefined, `Label ${l.name} detached.`, `detach ${l.name}`),
          },
          "×",
        ),
      ),
    );
    const choice = h("select", { id: "attach-label", "aria-label": "Label to attach" });
    try {
      const [global, own] = await Promise.all([
        getJson(`${API}/labels?scope=g&page_size=100`),
        getJson(`${API}/labels?scope=p&project_id=${projectId}&page_size=100`),
      ]);
      const free = [...global.data, ...own.data].filter((l) => !attached.has(l.id));
      choice.replaceChildren(...free.map((l) => h("option", { value: l.id }, l.name)));
    } catch (err) {
      status.show(failure("list the labels", err), "error");
    }
    const attach = (event) => {
      event.preventDefault();
      if (!choice.value) return;
      const label = choice.selectedOptions[0].textContent;
      change("POST", `${path}/labels`, { id: Number(choice.value) }, `Label ${label} attached.`, `attach ${label}`);
    };
    return h(
      "section",
      { id: "artifact-labels" },
      h("h2", {}, "Labels"),
      chips.length ? h("p", {}, chips) : h("p", { class: "muted" }, "No labels."),
      may("artifact-label", "create") &&
        h(
        "form",
        { class: "inline", id: "attach-label-form", onsubmit: attach },
        field("Label", choice),
        h("button", { type: "submit" }, "Attach"),
      ),
    );
  }

  function platformsSection(a) {
    if (!a.references?.length) return null;
    return h(
      "section",
      { id: "artifact-platforms" },
      h("h2", {}, "Platforms"),
      h(
        "ul",
        { class: "plain" },
        a.references.map((r) => {
          const p = r.platform ?? {};
          const name = [p.os, p.architecture, p.variant].filter(Boolean).join("/") || "unknown platform";
          return h("li", {}, link(artifactHref(projectId, repository, r.child_digest), `${name} ${r.child_digest}`));
        }),
      ),
    );
  }

  async function accessoryTree(subjectPath, depth) {
    const { data } = await getJson(`${subjectPath}/accessories?page_size=100`);
    if (data.length === 0) return null;
    const items = [];
    for (const acc of data) {
      const childPath = `${repositoryApi(projectId, repository)}/artifacts/${encodeURIComponent(acc.digest)}`;
      // An accessory's own accessories (a signature of an SBOM), a few levels at most.
      const below = depth < 3 ? await accessoryTree(childPath, depth + 1) : null;
      items.push(
        h(
          "li",
          { "data-digest": acc.digest },
          `${acc.type} `,
          link(artifactHref(projectId, repository, acc.digest), acc.digest.slice(0, 19)),
          ` ${formatSize(acc.size)}`,
          below,
        ),
      );
    }
    return h("ul", { class: "tree" }, items);
  }

  async function additionText(name) {
    const response = await request("GET", `${path}/additions/${name}`);
    return response.text();
  }

  async function additionsSection(a) {
    // Only what the artifact offers (addition_links): an index has no build history, an image no README.
    const offered = a.addition_links ?? {};
    const parts = [];
    try {
      if (offered.build_history) {
        const history = JSON.parse(await additionText("build_history"));
        if (Array.isArray(history) && history.length) {
          parts.push(
            h("h2", {}, "Build history"),
            h(
              "ol",
              { id: "build-history", class: "history" },
              history.map((step) => h("li", {}, h("code", {}, step.created_by ?? ""), " ", formatTime(step.created))),
            ),
          );
        }
      }
      if (offered["readme.md"]) {
        parts.push(h("h2", {}, "README"), h("pre", { id: "chart-readme", class: "document" }, await additionText("readme.md")));
      }
      if (offered["values.yaml"]) {
        const values = await additionText("values.yaml");
        parts.push(h("h2", {}, "values.yaml"), h("pre", { id: "chart-values", class: "document" }, values));
      }
    } catch (err) {
      // A chart whose archive the registry could not read: its additions were not kept.
      parts.push(h("p", { class: "muted" }, failure("read the artifact's additions", err)));
    }
    return parts.length ? h("section", { id: "artifact-additions" }, parts) : null;
  }

  async function load() {
    let a;
    try {
      const query = new URLSearchParams({ with_tag: true, with_label: true, with_accessory: true });
      a = (await getJson(`${path}?${query}`)).data;
    } catch (err) {
      status.show(failure("load the artifact", err), "error");
      return;
    }
    title.textContent = `${a.repository_name}@${a.digest.slice(0, 19)}`;
    const facts = h(
      "dl",
      { class: "facts", id: "artifact-facts" },
      h("dt", {}, "Digest"),
      h("dd", {}, h("code", { id: "artifact-digest" }, a.digest), copyButton(a.digest, "Copy the digest")),
      h("dt", {}, "Type"),
      h("dd", {}, `${a.type} (${a.media_type})`),
      h("dt", {}, "Size"),
      h("dd", {}, formatSize(a.size)),
      h("dt", {}, "Pushed"),
      h("dd", {}, formatTime(a.push_time)),
      h("dt", {}, "Pulled"),
      h("dd", {}, formatTime(a.pull_time)),
      h("dt", {}, "Pull by digest"),
      h("dd", {}, commandList(pullCommands(host, a))),
    );
    let accessories = null;
    try {
      const tree = await accessoryTree(path, 1);
      if (tree) accessories = h("section", { id: "artifact-accessories" }, h("h2", {}, "Accessories"), tree);
    } catch (err) {
      status.show(failure("list the accessories", err), "error");
    }
    const may = await projectPermissions(projectId);
    body.replaceChildren(
      facts,
      tagsSection(a, may),
      await labelsSection(a, may),
      platformsSection(a) ?? "",
      accessories ?? "",
      (await additionsSection(a)) ?? "",
    );
  }

  load();
  return h(
    "section",
    { class: "artifact-page" },
    h(
      "p",
      { class: "crumbs" },
      link(`/harbor/projects/${projectId}/repositories`, "‹ Project"),
      " ",
      link(repositoryHref(projectId, repository), `‹ ${repository}`),
    ),
    title,
    status,
    body,
  );
}
