"""User groups (Harbor's /usergroups): LDAP, HTTP and OIDC groups that can be project members."""
