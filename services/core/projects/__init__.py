"""Projects: rows as one caller sees them (store), and the rules for creating, changing and deleting them."""
