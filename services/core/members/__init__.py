"""Project members: users and groups holding one of Harbor's roles in a project."""
