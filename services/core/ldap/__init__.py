"""Harbor's /ldap endpoints: test a directory configuration, search and import users, search groups."""
