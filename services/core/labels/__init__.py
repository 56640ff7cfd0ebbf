"""Harbor's labels: global and project labels, attached to artifacts."""
