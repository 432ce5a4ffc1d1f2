"""Users, sessions, API tokens, roles and the request dependencies that enforce them."""
