"""The console: the web pages of the communication team, the ContactCenter's agents, operations and management
at `/console/`, behind a login (users with roles, sessions, CSRF, throttling, an audit trail, API tokens)."""
