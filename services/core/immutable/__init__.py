"""Harbor's tag immutability rules of a project (/projects/{p}/immutabletagrules)."""
