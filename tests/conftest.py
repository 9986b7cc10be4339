"""Shared test configuration: logs to the terminal on failure, nothing else global."""
