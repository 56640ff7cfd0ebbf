"""The token service: Docker registry bearer tokens for users, robots and anonymous clients."""
