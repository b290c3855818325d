"""End-to-end tests in a real browser against the demo (scripts/develop)."""
