"""The Go agent as source and as a build: go vet, go test, reproducible builds, shared constants."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from service.agent_harness import GO_CACHE, agent_binary

from aasee.arch import ArchProfile, profiles
from aasee.guest import protocol
from aasee.images import agent_build
from aasee.images.agent_build import (
    AgentBuildError,
    agent_source_digest,
    agent_sources,
    agent_version,
    build_agent,
    go_environment,
)

AGENT = resources.files("aasee.guest").joinpath("agent")


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the agent package, tests included."""
    folder = tmp_path / "agent"
    folder.mkdir()
    for entry in AGENT.iterdir():
        if entry.name == "go.mod" or entry.name.endswith(".go"):
            (folder / entry.name).write_bytes(entry.read_bytes())
    return folder


def _go(package: Path, *args: str, env: dict[str, str] | None = None) -> None:
    go = shutil.which("go")
    assert go is not None, "the Go toolchain is missing: run make install"
    result = subprocess.run(
        [go, *args],
        cwd=package,
        env={**go_environment(GO_CACHE), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_go_test_passes(package: Path) -> None:
    _go(package, "test", "-count=1", ".")


@pytest.mark.parametrize("profile", profiles(), ids=lambda p: p.name)
def test_go_vet_is_clean_for_every_guest(package: Path, profile: ArchProfile) -> None:
    # Per target: syscall structures differ between architectures (utsname, stat, timespec).
    _go(package, "vet", ".", env={**dict(profile.go.env), "GOARCH": profile.go.goarch})


def test_the_agent_speaks_this_protocol() -> None:
    source = agent_sources()["protocol.go"].decode()

    def constant(name: str) -> int:
        match = re.search(rf"^\s*{name}\s*=\s*(\d+)(?:\s*(<<|\*)\s*(\d+))?\s*$", source, re.M)
        assert match is not None, name
        value, operator, operand = match.groups()
        if operator is None:
            return int(value)
        return int(value) << int(operand) if operator == "<<" else int(value) * int(operand)

    assert constant("protocolVersion") == protocol.VERSION
    assert constant("headerSize") == protocol.HEADER.size
    assert constant("maxPayload") == protocol.MAX_PAYLOAD
    assert constant("dataChunk") == protocol.DATA_CHUNK
    assert constant("maxGetBytes") == protocol.MAX_GET_BYTES
    for kind in ("JSON", "Data", "Trace", "Output", "File"):
        assert constant(f"kind{kind}") == getattr(protocol, f"KIND_{kind.upper()}")
    assert constant("streamStdout") == protocol.STREAM_STDOUT
    assert constant("streamStderr") == protocol.STREAM_STDERR
    assert "'A', 'E', protocolVersion" in source and protocol.MAGIC == b"AE"
    main = agent_sources()["main.go"].decode()
    assert f'"/dev/virtio-ports/{protocol.PORT_NAME}"' in main


def test_builds_are_reproducible(tmp_path: Path) -> None:
    # Each build compiles a fresh copy of the sources in its own scratch directory.
    one = build_agent("arm", {"GOARM": "7"}, tmp_path / "a" / "agent", GO_CACHE)
    two = build_agent("arm", {"GOARM": "7"}, tmp_path / "b" / "agent", GO_CACHE)
    assert one.read_bytes() == two.read_bytes()
    assert one.read_bytes()[:4] == b"\x7fELF"
    assert one.stat().st_mode & 0o777 == 0o755
    assert not list((tmp_path / "a").glob(".*part"))


def test_the_binary_knows_its_version() -> None:
    result = subprocess.run(
        [str(agent_binary()), "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    assert result.stdout.strip() == agent_version()


def test_source_digest_covers_sources_not_tests() -> None:
    digest = agent_source_digest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and digest == agent_source_digest()
    names = set(agent_sources())
    assert "go.mod" in names and "main.go" in names
    assert not any(name.endswith("_test.go") for name in names)


def test_missing_go_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_build.shutil, "which", lambda name: None)
    with pytest.raises(AgentBuildError, match="run make install"):
        build_agent("arm64", {}, tmp_path / "agent", tmp_path / "cache")


@pytest.mark.parametrize(
    ("goarch", "env"),
    [("sparc", {}), ("arm", {"GOOS": "windows"}), ("arm", {"CGO_ENABLED": "1"})],
)
def test_only_agent_targets_are_built(tmp_path: Path, goarch: str, env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        build_agent(goarch, env, tmp_path / "agent", tmp_path / "cache")
