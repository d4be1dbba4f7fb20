"""Use cases: one method per operation; load, let the core decide, commit, publish."""
