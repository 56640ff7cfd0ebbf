// One repository: its artifacts (GET .../repositories/{name}/artifacts?with_tag=true), in pages; an
// artifact is deleted, or one of its tags removed, after a confirmation. The API decides who may.
// Each artifact and each tag has Harbor's pull command, copied by a button.

import { API, getJson, request } from "./api.js";
import { copyText } from "./clipboard.js";
import { failure, formatSize, formatTime, h, link, notice, pager } from "./dom.js";
import { artifactHref } from "./artifact.js";
import { projectPermissions } from "./permissions.js";
import { repositoryApi } from "./repositories.js";

const PAGE_SIZE = 15;

function shortDigest(digest) {
  const [algorithm, hex = ""] = String(digest).split(":");
  return `${algorithm}:${hex.slice(0, 12)}`;
}

// Harbor's pull commands: docker by digest or tag; a Helm chart is pulled by its version (a tag) only.
// `host` is where clients reach the registry: systeminfo's registry_url, else the UI's own host.
function pullByDigest(host, a) {
  return a.type === "CHART" ? null : `docker pull ${host}/${a.repository_name}@${a.digest}`;
}

function pullByTag(host, a, tag) {
  return a.type === "CHART"
    ? `helm pull oci://${host}/${a.repository_name} --version ${tag}`
    : `docker pull ${host}/${a.repository_name}:${tag}`;
}

function platform(a) {
  const { os, architecture } = a.extra_attrs ?? {};
  return [os, architecture].filter(Boolean).join("/");
}

export function repositoryPage({ params, info }) {
  const host = info?.registry_url || location.host;
  const id = Number(params[0]);
  const name = params[1];
  const base = repositoryApi(id, name);
  let page = 1;
  let may = () => true; // what the user may do here, once asked (permissions.js)
  const title = h("h1", {}, `Repository ${name}`);
  const projectLink = link(`/harbor/projects/${id}/repositories`, "Project");
  const status = notice();
  const rows = h("tbody");
  const paging = h("div");

  async function load() {
    const query = new URLSearchParams({ with_tag: true, with_label: true, page, page_size: PAGE_SIZE });
    try {
      const [{ data, total }, allowed] = await Promise.all([
        getJson(`${base}/artifacts?${query}`),
        projectPermissions(id),
      ]);
      may = allowed;
      rows.replaceChildren(...data.map(artifactRow));
      if (data.length === 0) rows.append(h("tr", {}, h("td", { colspan: 9, class: "empty" }, "No artifacts.")));
      paging.replaceChildren(
        pager(page, PAGE_SIZE, total, (p) => {
          page = p;
          load();
        }),
      );
    } catch (err) {
      status.show(failure("list the artifacts", err), "error");
    }
  }

  async function change(question, method, path, done, what) {
    if (!window.confirm(question)) return;
    try {
      await request(method, path);
      status.show(done);
      await load();
    } catch (err) {
      status.show(failure(what, err), "error");
    }
  }

  function copyButton(command, label, text) {
    if (command === null) return null;
    const copy = async () => {
      try {
        await copyText(command);
        status.show(`Copied: ${command}`);
      } catch (err) {
        status.show(`Could not copy the pull command: ${err.message}`, "error");
      }
    };
    return h(
      "button",
      { type: "button", class: "copy-pull", title: command, "aria-label": label, "data-command": command, onclick: copy },
      text,
    );
  }

  function artifactRow(a) {
    const short = shortDigest(a.digest);
    const artifactPath = `${base}/artifacts/${encodeURIComponent(a.digest)}`;
    const tags = (a.tags ?? []).map((t) =>
      h(
        "span",
        { class: "tag" },
        t.name,
        copyButton(pullByTag(host, a, t.name), `Copy the pull command of tag ${t.name}`, "copy"),
        may("tag", "delete") &&
          h(
            "button",
          {
            type: "button",
            class: "remove-tag",
            title: `Remove the tag ${t.name}`,
            "aria-label": `Remove tag ${t.name}`,
            onclick: () =>
              change(
                `Remove the tag ${t.name}?`,
                "DELETE",
                `${artifactPath}/tags/${encodeURIComponent(t.name)}`,
                `Tag ${t.name} removed.`,
                `remove the tag ${t.name}`,
              ),
          },
          "×",
        ),
      ),
    );
    const remove = () =>
      change(
        `Delete the artifact ${short} and all its tags?`,
        "DELETE",
        artifactPath,
        `Artifact ${short} deleted.`,
        `delete ${short}`,
      );
    return h(
      "tr",
      { "data-digest": a.digest },
      h("td", { class: "digest", title: a.digest }, link(artifactHref(id, name, a.digest), short)),
      h("td", {}, a.type),
      h("td", { class: "tags" }, tags),
      h(
        "td",
        { class: "pull" },
        // A chart has no pull by digest: its command names its first tag, if it has one.
        copyButton(
          pullByDigest(host, a) ?? (a.tags?.length ? pullByTag(host, a, a.tags[0].name) : null),
          `Copy the pull command of ${short}`,
          "Copy",
        ),
      ),
      h("td", { class: "num" }, formatSize(a.size)),
      h("td", {}, platform(a)),
      h("td", {}, formatTime(a.push_time)),
      h("td", {}, formatTime(a.pull_time)),
      h(
        "td",
        {},
        may("artifact", "delete") ? h("button", { type: "button", class: "danger", onclick: remove }, "Delete") : "",
      ),
    );
  }

  getJson(`${API}/projects/${id}`).then(
    ({ data }) => {
      title.textContent = `Repository ${data.name}/${name}`;
      projectLink.textContent = `‹ Project ${data.name}`;
    },
    (err) => status.show(failure("load the project", err), "error"),
  );
  load();
  return h(
    "section",
    { class: "repository" },
    h("p", { class: "crumbs" }, link("/harbor/projects", "‹ Projects"), " ", projectLink),
    title,
    status,
    h(
      "table",
      { id: "artifacts" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Digest", "Type", "Tags", "Pull command", "Size", "OS/Arch", "Pushed", "Pulled", ""].map((t) => h("th", {}, t)),
        ),
      ),
      rows,
    ),
    paging,
  );
}
