"""Storage tests use the shared database fixtures.

Imported here until the root conftest registers ``tests.db_fixtures`` as a plugin; after that
this import is redundant (harmless: these definitions then shadow the plugin's in this folder).
"""

from tests.db_fixtures import *  # noqa: F403
