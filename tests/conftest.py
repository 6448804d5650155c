"""Root fixtures: database backends (tests/db_fixtures.py) and a running server."""

from __future__ import annotations

pytest_plugins = ["tests.db_fixtures", "tests.server_fixtures"]
