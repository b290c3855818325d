"""Tests of the history backfill into long-term statistics."""
