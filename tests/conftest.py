"""The store tests use pytest-session-history's own fixtures (``session_history``,
``session_history_config``, ``session_history_db``...): with ``session_history_backends`` set to
both in pyproject.toml, each runs on SQLite and, when ``$SESSION_HISTORY_TEST_POSTGRES_URL`` names
a server, on PostgreSQL, each PostgreSQL test in a schema of its own, dropped afterwards. Without
the URL one line in the report header says the PostgreSQL half did not run."""
