"""Users as the REST API shows them (the current user, for now)."""
