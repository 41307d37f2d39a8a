"""Helpers shared by the test suite: databases, the app under test, plugin files."""
