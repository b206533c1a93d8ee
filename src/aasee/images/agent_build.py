"""Build the in-guest agent: one static Go program per guest architecture.

The agent's sources (``aasee/guest/agent/*.go`` and ``go.mod``, standard library only) are
read from the installed package, copied to a scratch directory and compiled with the Go
toolchain of the host (``go``, installed by ``make install``). Builds are reproducible: the
same sources, target and Go release give the same bytes (``-trimpath``, no build id, no VCS
stamp, a clean environment), so ``agent_source_digest()`` can stand for the binary in image
cache keys.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

__all__ = [
    "AgentBuildError",
    "agent_source_digest",
    "agent_sources",
    "agent_version",
    "build_agent",
    "go_environment",
]

GOARCHES = frozenset({"amd64", "386", "arm64", "arm", "mips", "mipsle", "mips64", "mips64le"})
"""Targets the agent may be built for (Linux only)."""
TARGET_VARIABLES = frozenset({"GOARM", "GOMIPS", "GOMIPS64", "GO386", "GOAMD64"})
"""Per-target variables a profile may set; everything else is fixed here."""
LDFLAGS = "-s -w -buildid="
BUILD_TIMEOUT = 600

log = logging.getLogger(__name__)


class AgentBuildError(Exception):
    """The agent could not be built; the message says why and what to do."""


def agent_sources() -> dict[str, bytes]:
    """The files ``go build`` needs, by name: ``go.mod`` and the non-test ``*.go`` files."""
    folder = resources.files("aasee.guest").joinpath("agent")
    sources = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.name == "go.mod"
        or (entry.name.endswith(".go") and not entry.name.endswith("_test.go"))
    }
    if "go.mod" not in sources or not any(name.endswith(".go") for name in sources):
        raise AgentBuildError("the agent sources are missing from the aasee package")
    return dict(sorted(sources.items()))


def agent_source_digest() -> str:
    """SHA-256 over the agent's sources (names and contents): a key for built images."""
    digest = hashlib.sha256()
    for name, data in agent_sources().items():
        for part in (name.encode(), data):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def agent_version() -> str:
    """The version the agent reports in ``ping`` (``agentVersion`` in main.go)."""
    match = re.search(rb'\bagentVersion\s*=\s*"([^"]+)"', agent_sources().get("main.go", b""))
    if match is None:
        raise AgentBuildError("main.go does not define agentVersion")
    return match.group(1).decode()


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise AgentBuildError(
            "the Go toolchain (`go`) is not installed, but it builds the guest agent: "
            "run make install (Debian package golang-go)"
        )
    return go


def go_environment(cache: Path) -> dict[str, str]:
    """A clean environment for the Go tool: caches under ``cache``, no network, no user config.

    Nothing of the caller's Go settings leaks in (GOFLAGS, GOTOOLCHAIN, go.work, the user's
    ``go env -w`` file); PATH is kept so that ``go`` finds its own tools.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(cache / "home"),
        "GOCACHE": str(cache / "go-build"),
        "GOPATH": str(cache / "gopath"),
        "GOENV": "off",
        "GOFLAGS": "",
        "GOWORK": "off",
        "GOPROXY": "off",
        "GO111MODULE": "on",
        "CGO_ENABLED": "0",
        "GOOS": "linux",
    }
    if "GOROOT" in os.environ:
        env["GOROOT"] = os.environ["GOROOT"]
    return env


def build_agent(goarch: str, env: dict[str, str], out: Path, cache: Path) -> Path:
    """Compile the agent for ``goarch`` (plus target variables such as ``GOARM=7``) to ``out``.

    ``cache`` holds the Go build cache between builds. Returns ``out``, which is replaced
    atomically. Raises ``AgentBuildError`` if Go is missing or the build fails.
    """
    if goarch not in GOARCHES:
        raise ValueError(f"unsupported GOARCH {goarch!r} (known: {', '.join(sorted(GOARCHES))})")
    unknown = set(env) - TARGET_VARIABLES
    if unknown:
        raise ValueError(f"not a target variable of the agent build: {', '.join(sorted(unknown))}")
    go = _go()
    sources = agent_sources()
    out.parent.mkdir(parents=True, exist_ok=True)
    for folder in ("home", "go-build", "gopath"):
        (cache / folder).mkdir(parents=True, exist_ok=True)
    environment = {**go_environment(cache), **env, "GOARCH": goarch}
    with tempfile.TemporaryDirectory(prefix="aasee-agent-src-") as scratch:
        source_dir = Path(scratch) / "agent"
        source_dir.mkdir()
        for name, data in sources.items():
            (source_dir / name).write_bytes(data)
        partial = out.with_name(f".{out.name}.{os.getpid()}.part")
        command = [
            go,
            "build",
            "-trimpath",
            "-buildvcs=false",
            "-ldflags",
            LDFLAGS,
            "-o",
            str(partial),
            ".",
        ]
        start = time.monotonic()
        try:
            result = subprocess.run(
                command,
                cwd=source_dir,
                env=environment,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            partial.unlink(missing_ok=True)
            raise AgentBuildError(
                f"building the agent for {goarch} took more than {BUILD_TIMEOUT} s"
            ) from exc
        if result.returncode != 0 or not partial.is_file():
            partial.unlink(missing_ok=True)
            detail = (result.stderr or result.stdout).strip()[-2000:]
            raise AgentBuildError(f"building the agent for {goarch} failed: {detail}")
    partial.chmod(0o755)
    partial.replace(out)
    log.info(
        "built the agent for %s in %.1f s (%d bytes)",
        goarch,
        time.monotonic() - start,
        out.stat().st_size,
    )
    return out
