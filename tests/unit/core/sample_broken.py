"""A hook module that fails while being imported (for load-error tests)."""

raise RuntimeError("broken on import")
