"""The export tests use the report builders of the HTML tests (tests/unit/html).

Both test directories are plain directories, not packages (a package named ``html`` would
shadow the standard library's), so the builders' directory is put on the import path here.
"""

from __future__ import annotations

import sys
from pathlib import Path

_BUILDERS = str(Path(__file__).resolve().parents[1] / "html")
if _BUILDERS not in sys.path:
    sys.path.insert(0, _BUILDERS)
