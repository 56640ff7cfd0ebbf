"""Core: Harbor's REST API (/api/v2.0) over projects, members and users (the UI comes later)."""
