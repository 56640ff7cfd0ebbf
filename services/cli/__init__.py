"""The `berth` operator command: one module per subcommand, wired together in `main`."""
