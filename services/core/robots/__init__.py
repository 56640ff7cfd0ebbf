"""Robot accounts: Harbor's /robots API (models, SQL, rules)."""
