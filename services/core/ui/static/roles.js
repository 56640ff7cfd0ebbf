// Harbor's project roles, by role_id.
export const ROLES = [
  [1, "Project Admin"],
  [4, "Maintainer"],
  [2, "Developer"],
  [3, "Guest"],
  [5, "Limited Guest"],
];
export const PROJECT_ADMIN = 1;

export function roleName(id) {
  return ROLES.find(([roleId]) => roleId === id)?.[1] ?? "—";
}
