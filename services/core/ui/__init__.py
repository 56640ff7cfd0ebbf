"""The web UI: static HTML, CSS and ES modules under static/, served by core at the root as Harbor's is."""
