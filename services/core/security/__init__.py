"""Who is calling (a `Principal` on every request) and what that principal may do in a project."""
