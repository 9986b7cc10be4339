"""Fixtures every test directory may use: real services started once per test session.

They live in ``tests/support/fixtures.py`` so that one pytest run starts each service once, for
the integration tests and the conformance suite alike.
"""

pytest_plugins = ["support.fixtures"]
