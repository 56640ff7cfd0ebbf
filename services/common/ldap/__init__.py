"""The LDAP directory seam: a small Protocol, its ldap3 implementation and an in-memory twin."""
