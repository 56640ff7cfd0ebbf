"""The proxy: nginx in front of every service, configured from berth.yml (no Python process at run time)."""
