// The shell: who is logged in, the header, the default-password banner and a small path router.
// Paths follow Harbor's UI (/harbor/projects, /harbor/projects/3/members, /harbor/users), and core
// answers every one of them with index.html, so a deep link or a reload lands on the same page.

import { API, ApiError, getJson, onSessionLost, request } from "./api.js";
import { artifactPage } from "./artifact.js";
import { auditLogsPage } from "./logs.js";
import { forgetPermissions } from "./permissions.js";
import { cleanupPage } from "./cleanup.js";
import { configsPage } from "./configs.js";
import { h, link } from "./dom.js";
import { jobServicePage } from "./jobservice.js";
import { systemLabelsPage } from "./labels.js";
import { loginPage } from "./login.js";
import { passwordPage } from "./password.js";
import { projectPage } from "./project.js";
import { projectsPage } from "./projects.js";
import { projectQuotasPage } from "./quotas.js";
import { registriesPage } from "./registries.js";
import { replicationsPage } from "./replications.js";
import { repositoryPage } from "./repository.js";
import { systemRobotsPage } from "./robots.js";
import { searchBox } from "./search.js";
import { usersPage } from "./users.js";

const HOME = "/harbor/projects";
const ADMIN_USER_ID = 1;
// Harbor's words, as the registry and the API refuse a change with them.
const READ_ONLY_MESSAGE = "The system is in read only mode. Any modification is prohibited.";
const routes = [
  { path: /^\/harbor\/projects\/?$/, page: projectsPage },
  {
    path: /^\/harbor\/projects\/(\d+)(?:\/(summary|repositories|members|labels|policy|robot-account|webhook|logs|configs))?\/?$/,
    page: projectPage,
  },
  { path: /^\/harbor\/logs\/?$/, page: auditLogsPage },
  // Harbor's artifact page, before the repository's: /harbor/projects/3/repositories/apps/web/artifacts-tab/
  // artifacts/sha256:….
  {
    path: /^\/harbor\/projects\/(\d+)\/repositories\/(.+?)\/artifacts-tab\/artifacts\/([a-z0-9]+:[a-f0-9]+)\/?$/,
    page: artifactPage,
  },
  // A repository's name keeps its slashes in the path: /harbor/projects/3/repositories/apps/web.
  { path: /^\/harbor\/projects\/(\d+)\/repositories\/(.+?)\/?$/, page: repositoryPage },
  { path: /^\/harbor\/users\/?$/, page: usersPage, sysadmin: true },
  { path: /^\/harbor\/robot-accounts\/?$/, page: systemRobotsPage, sysadmin: true },
  { path: /^\/harbor\/registries\/?$/, page: registriesPage, sysadmin: true },
  { path: /^\/harbor\/replications\/?$/, page: replicationsPage, sysadmin: true },
  { path: /^\/harbor\/labels\/?$/, page: systemLabelsPage, sysadmin: true },
  { path: /^\/harbor\/project-quotas\/?$/, page: projectQuotasPage, sysadmin: true },
  { path: /^\/harbor\/clearing-job(?:\/(gc|audit-log-purge))?\/?$/, page: cleanupPage, sysadmin: true },
  {
    path: /^\/harbor\/job-service-dashboard(?:\/(pending-jobs|schedules|workers))?\/?$/,
    page: jobServicePage,
    sysadmin: true,
  },
  { path: /^\/harbor\/configs(?:\/(setting|authentication))?\/?$/, page: configsPage, sysadmin: true },
  { path: /^\/account\/password\/?$/, page: passwordPage },
];

const root = document.getElementById("app");
let session = null; // { user, info } once logged in
let flash = null; // a message for the next page drawn (after a change that redraws everything)

export function navigate(path) {
  if (path !== location.pathname + location.search) history.pushState(null, "", path);
  render();
}

// Reads the current user and systeminfo again (after a login, or a change that the banner depends on).
export async function refreshSession(message = null) {
  session = await loadSession();
  flash = message;
  render();
}

async function loadSession() {
  try {
    // Asked first, so the login page's load logs no refused request.
    if (!(await getJson("/c/session")).data.logged_in) return null;
    const user = (await getJson(`${API}/users/current`)).data;
    const info = (await getJson(`${API}/systeminfo`)).data;
    return { user, info };
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

async function logOut() {
  await request("GET", "/c/log_out");
  session = null;
  history.pushState(null, "", "/");
  render();
}

function header(user) {
  return h(
    "header",
    { class: "top" },
    h("span", { class: "brand" }, "Berth"),
    searchBox(),
    h("span", { class: "spacer" }),
    // Harbor's API explorer (Swagger UI, a page of its own: a plain link, not the app's router).
    h("a", { href: "/devcenter-api-2.0", class: "api-explorer" }, "API Explorer"),
    link("/account/password", h("span", { class: "username", title: "change your password" }, user.username)),
    h("button", { type: "button", class: "logout", onclick: logOut }, "Log out"),
  );
}

// Harbor's left sidebar: Projects and Logs for everyone, the Administration area for the system administrator.
// The entry of the page shown is marked as the current one.
function sidebar(user) {
  const nav = h(
    "nav",
    { class: "sidebar", "aria-label": "main" },
    link(HOME, "Projects"),
    link("/harbor/logs", "Logs"),
    user.sysadmin_flag ? adminNav() : null,
  );
  for (const a of nav.querySelectorAll("a")) {
    const href = a.getAttribute("href");
    if (location.pathname === href || location.pathname.startsWith(`${href}/`)) a.setAttribute("aria-current", "page");
  }
  return nav;
}

// Harbor's Administration area: the system administrator's pages.
function adminNav() {
  return h(
    "div",
    { class: "admin-nav", role: "group", "aria-label": "Administration" },
    h("span", { class: "nav-label" }, "Administration"),
    link("/harbor/users", "Users"),
    link("/harbor/robot-accounts", "Robot Accounts"),
    link("/harbor/registries", "Registries"),
    link("/harbor/replications", "Replications"),
    link("/harbor/labels", "Labels"),
    link("/harbor/project-quotas", "Project Quotas"),
    link("/harbor/clearing-job", "Clean Up"),
    link("/harbor/job-service-dashboard", "Job Service Dashboard"),
    link("/harbor/configs", "Configuration"),
  );
}

// Shown to system administrators while the admin account still opens with Harbor12345.
function defaultPasswordBanner(user, info) {
  if (info.admin_password_is_default !== true) return null;
  const action =
    user.user_id === ADMIN_USER_ID
      ? link("/account/password", "Change the admin password now.")
      : "Ask the admin to change it, or log in as admin and change it under the user name at the top right.";
  return h(
    "div",
    { class: "banner warning", role: "alert", id: "default-password-banner" },
    h("strong", {}, "Security warning: "),
    "the admin account still has the default password Harbor12345, which anyone can look up. ",
    action,
  );
}

// Every logged-in user's, on every page, while the configuration's read_only is on.
function readOnlyBanner(info) {
  if (info.read_only !== true) return null;
  return h("div", { class: "banner warning", role: "alert", id: "read-only-banner" }, READ_ONLY_MESSAGE);
}

// The configuration's banner_message, as text (never markup), on every page while it is set.
function messageBanner(info) {
  const message = typeof info.banner_message === "string" ? info.banner_message : "";
  if (message.trim() === "") return null;
  return h("div", { class: "banner info message", role: "note", id: "message-banner" }, message);
}

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function match() {
  for (const route of routes) {
    const found = route.path.exec(location.pathname);
    if (found) return { route, params: found.slice(1).map((p) => (p === undefined ? p : safeDecode(p))) };
  }
  return null;
}

function render() {
  if (session === null) {
    root.replaceChildren(loginPage({ onLoggedIn: refreshSession, message: flash }));
    return;
  }
  const { user, info } = session;
  const found = match();
  if (found === null || (found.route.sysadmin && !user.sysadmin_flag)) {
    // "/" itself, a page that does not exist or one this user may not see: the projects list.
    history.replaceState(null, "", HOME);
    render();
    return;
  }
  forgetPermissions();
  const ctx = { user, info, params: found.params, navigate, refreshSession };
  const message = flash && h("p", { class: "notice info", role: "status" }, flash);
  flash = null;
  root.replaceChildren(
    header(user),
    defaultPasswordBanner(user, info) ?? "",
    readOnlyBanner(info) ?? "",
    messageBanner(info) ?? "",
    h("div", { class: "shell" }, sidebar(user), h("main", {}, message, found.route.page(ctx))),
  );
}

// In-app links change the path without a page load; back/forward redraw.
document.addEventListener("click", (event) => {
  const a = event.target.closest?.("a[data-nav]");
  if (!a || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);

// A session that expires mid-page: the login page, at the same address, so that logging in again returns
// to the page the user was on.
onSessionLost(() => {
  if (session === null) return;
  session = null;
  flash = "Your session has ended. Log in again to go on.";
  render();
});

loadSession()
  .then((found) => {
    session = found;
    render();
  })
  .catch((err) => {
    root.replaceChildren(h("p", { class: "notice error", role: "alert" }, `Berth is not reachable: ${err.message}`));
  });
