// What the logged-in user may do in a project (GET /api/v2.0/users/current/permissions, Harbor's
// GetCurrentUserPermissions), so that a page shows no button the API would refuse. Asked once per project
// per page drawn; the API still decides every call.

import { API, getJson } from "./api.js";

const asked = new Map(); // project id → Promise<Set<"resource:action">>

export function projectPermissions(projectId) {
  const id = Number(projectId);
  if (!asked.has(id)) {
    const query = new URLSearchParams({ scope: `/project/${id}`, relative: "true" });
    asked.set(
      id,
      getJson(`${API}/users/current/permissions?${query}`).then(
        ({ data }) => new Set(data.map((p) => `${p.resource}:${p.action}`)),
        // Unknown: show the buttons, and let the API's refusal say why.
        () => null,
      ),
    );
  }
  return asked.get(id).then((held) => (resource, action) => held === null || held.has(`${resource}:${action}`));
}

// A page drawn anew asks again: a role may have changed meanwhile.
export function forgetPermissions() {
  asked.clear();
}
