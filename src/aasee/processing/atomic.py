"""Writing a file so readers only ever see the old content or the whole new one.

Every artefact the sandbox writes for others to read (reports, ``run.json``, dropped-file
copies, exports) goes through :func:`write_atomic`: written beside the target, then renamed over
it; on any failure only the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8); ``mode`` sets its permissions.

    Without ``mode`` the file is private to its owner (0600), as a temporary file is.
    """
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
