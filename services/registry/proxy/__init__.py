"""Proxy-cache projects: pulls that miss are fetched from the project's registry endpoint and kept."""
