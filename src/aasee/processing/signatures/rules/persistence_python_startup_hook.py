"""Python startup hooks: a .pth file in a site-packages directory, or sitecustomize.py /
usercustomize.py, written outside a package installation."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import basename, file_summary
from ..models import Evidence
from ..query import ReportIndex

PTH = ("/**/site-packages/*.pth", "/**/dist-packages/*.pth")
CUSTOMIZE = ("sitecustomize.py", "usercustomize.py")
# Programs that install Python packages: their .pth files are how packages are laid out.
INSTALLERS = frozenset(
    {"pip", "pip3", "pipx", "easy_install", "poetry", "uv", "pdm", "hatch", "conda", "mamba",
     "virtualenv", "dpkg", "rpm"}
)  # fmt: skip
INSTALLER_MODULES = frozenset({"pip", "ensurepip", "venv", "virtualenv", "setuptools", "build"})


class PythonStartupHook(Signature):
    id = "persistence_python_startup_hook"
    name = "Plants a Python startup hook"
    description = (
        "Writes a .pth file into a site-packages or dist-packages directory (an import line "
        "in one runs in every Python process that starts), or a sitecustomize.py or "
        "usercustomize.py module (imported at every start). pip, package managers and "
        "virtualenv laying out packages are not counted."
    )
    severity = "high"
    category = "persistence"
    techniques = ("T1546.018",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in [*ctx.modified(PTH), *ctx.modified_named(CUSTOMIZE)]:
            if not self._installing(ctx, found.process):
                yield found.evidence(file_summary(found))

    @staticmethod
    def _installing(ctx: ReportIndex, key: str | None) -> bool:
        if ctx.installing(key):
            return True
        for process in ctx.lineage(key):
            names = {n.rstrip("0123456789.") for n in ctx.names(process.key)}
            if (
                names & INSTALLERS
                or basename(process.argv[0] if process.argv else "") in INSTALLERS
            ):
                return True
            argv = process.argv
            for i, arg in enumerate(argv[:-1]):
                if arg == "-m" and argv[i + 1] in INSTALLER_MODULES:
                    return True
            if any(basename(a) == "setup.py" for a in argv[1:3]):
                return True
        return False
