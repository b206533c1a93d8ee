"""The private apt setups: options, sources, parsing, and remembered answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aasee.images.debian_packages import (
    DebianArchive,
    DebianSources,
    deb_file_name,
    parse_depends,
    partial_dir,
    publish_dir,
)


def _options(archive: DebianArchive) -> dict[str, str]:
    argv = archive.apt_options()
    assert argv[::2] == ["-o"] * (len(argv) // 2)
    return dict(item.split("=", 1) for item in argv[1::2])


def test_apt_options_use_nothing_of_the_hosts_apt(tmp_path: Path) -> None:
    archive = DebianArchive(tmp_path, "arm64", DebianSources())
    options = _options(archive)
    root = archive.root
    assert root.is_relative_to(tmp_path / "apt")
    assert options["Dir::Etc::SourceList"] == str(root / "sources.list")
    assert options["Dir::Etc::SourceParts"] == "/dev/null"
    assert options["Dir::Etc::PreferencesParts"] == "/dev/null"
    assert options["Dir::State::Lists"] == str(root / "lists")
    assert options["Dir::State::status"] == "/dev/null"
    assert options["Dir::Cache"] == str(root / "cache")
    assert options["APT::Architecture"] == "arm64"
    # "APT::Architectures::=arm64" replaces the list with this one architecture.
    assert options["APT::Architectures::"] == "arm64"
    for value in options.values():
        assert not value.startswith("/etc/apt"), value
        assert not value.startswith("/var/lib/apt"), value


def test_setups_are_separate_per_architecture_mirror_and_kind(tmp_path: Path) -> None:
    sources = DebianSources()
    roots = {
        DebianArchive(tmp_path, "arm64", sources).root,
        DebianArchive(tmp_path, "armhf", sources).root,
        DebianArchive(tmp_path, "arm64", DebianSources(mirror="http://m.example/debian")).root,
        DebianArchive(tmp_path, "amd64", sources, kind="deb-src").root,
    }
    assert len(roots) == 4
    assert DebianArchive(tmp_path, "arm64", sources).debs == tmp_path / "debs" / "arm64"


def test_sources_are_the_suite_its_updates_and_security() -> None:
    sources = DebianSources(mirror="http://m.example/debian", security_mirror="http://s.example/ds")
    assert sources.lines() == [
        "deb http://m.example/debian bookworm main",
        "deb http://m.example/debian bookworm-updates main",
        "deb http://s.example/ds bookworm-security main",
    ]
    assert sources.lines("deb-src")[0].startswith("deb-src http://m.example/debian bookworm ")
    assert sources.key() != DebianSources().key()


def test_deb_file_names_escape_the_epoch() -> None:
    assert (
        deb_file_name("busybox-static", "1:1.35.0-4+deb12u1+b1", "arm64")
        == "busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb"
    )


def test_parse_depends_takes_first_alternatives_of_the_first_record() -> None:
    show = (
        "Package: linux-image-arm64\n"
        "Version: 6.1.192-3\n"
        "Pre-Depends: dpkg (>= 1.19)\n"
        "Depends: linux-image-6.1.0-57-arm64 (= 6.1.192-3) | linux-image-6.1.0-57-arm64-unsigned"
        " (= 6.1.192-3), foo:any, bar [arm64]\n"
        "Description: meta\n"
        "\n"
        "Package: linux-image-arm64\n"
        "Version: 6.1.176-1\n"
        "Depends: linux-image-6.1.0-50-arm64\n"
    )
    assert parse_depends(show) == ["dpkg", "linux-image-6.1.0-57-arm64", "foo", "bar"]


def test_answers_are_remembered_until_the_lists_are_refreshed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = DebianArchive(tmp_path, "mipsel", DebianSources())
    calls: list[tuple[str, ...]] = []

    def fake_apt(tool: str, *args: str, cwd: Path | None = None) -> str:
        calls.append((tool, *args))
        if args[:1] == ("update",) or args[:2] == ("-q", "update"):
            return ""
        if tool == "apt-cache" and args[0] == "policy":
            return f"{args[1]}:\n  Installed: (none)\n  Candidate: 2.36-9\n"
        if tool == "apt-cache" and args[0] == "show":
            return "Package: linux-image-4kc-malta\nDepends: linux-image-6.1.0-50-4kc-malta\n"
        raise AssertionError(args)

    monkeypatch.setattr(archive, "_apt", fake_apt)
    assert archive.candidate("libc6") == "2.36-9"
    assert archive.resolve_meta("linux-image-4kc-malta", "linux-image-") == (
        "linux-image-6.1.0-50-4kc-malta",
        "2.36-9",
    )
    asked = len(calls)
    # A second setup on the same cache (a later build) asks apt nothing.
    again = DebianArchive(tmp_path, "mipsel", DebianSources())
    monkeypatch.setattr(again, "_apt", fake_apt)
    assert again.candidate("libc6") == "2.36-9"
    assert again.resolve_meta("linux-image-4kc-malta", "linux-image-")[0].endswith("4kc-malta")
    assert len(calls) == asked
    # Stale lists are refreshed, and what was remembered of them is forgotten.
    stamp = again.root / "updated"
    old = stamp.stat().st_mtime - 2 * again.max_age
    os.utime(stamp, (old, old))
    assert again.candidate("libc6") == "2.36-9"
    assert calls[asked][:3] == ("apt-get", "-q", "update")
    assert ("apt-cache", "policy", "libc6") in calls[asked:]


def test_an_unknown_package_refreshes_the_lists_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = DebianArchive(tmp_path, "armel", DebianSources())
    updates: list[int] = []

    def fake_apt(tool: str, *args: str, cwd: Path | None = None) -> str:
        if tool == "apt-get":
            updates.append(1)
            return ""
        return "nothing:\n  Installed: (none)\n  Candidate: (none)\n"

    monkeypatch.setattr(archive, "_apt", fake_apt)
    archive.update()  # lists fetched now: an unknown package is really unknown
    with pytest.raises(Exception, match="not in"):
        archive.candidate("nothing")
    assert len(updates) == 1
    # Recent lists fetched by an earlier build are refreshed once before giving up.
    later = DebianArchive(tmp_path, "armel", DebianSources())
    monkeypatch.setattr(later, "_apt", fake_apt)
    with pytest.raises(Exception, match="not in"):
        later.candidate("nothing")
    assert len(updates) == 2


def test_publish_keeps_a_complete_result_of_another_process(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    first = partial_dir(target)
    first.mkdir()
    (first / "x").write_text("first")
    (first / ".complete").write_text("")
    publish_dir(first, target)
    assert (target / "x").read_text() == "first" and not first.exists()
    second = partial_dir(target)
    second.mkdir()
    (second / "x").write_text("second")
    publish_dir(second, target)
    assert (target / "x").read_text() == "first" and not second.exists()
    # An incomplete leftover (a killed build) is replaced.
    (target / ".complete").unlink()
    third = partial_dir(target)
    third.mkdir()
    (third / "x").write_text("third")
    publish_dir(third, target)
    assert (target / "x").read_text() == "third"
