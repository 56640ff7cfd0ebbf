"""Users, groups, projects, members and robot accounts: models, their SQL, and the first-start bootstrap."""
