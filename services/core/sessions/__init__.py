"""Login sessions (Harbor's /c/login): kept in Redis, named by a random id the browser holds in a cookie."""
