"""A hook module whose own import is missing (for load-error tests)."""

import aasee_no_such_dependency  # type: ignore[import-not-found]  # noqa: F401
