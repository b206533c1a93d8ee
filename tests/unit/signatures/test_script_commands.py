"""Commands of the scripts that ran, joined with what the trace shows; the other questions
the technique signatures ask of a report."""

from __future__ import annotations

from aasee.processing.signatures import ReportIndex, all_signatures, run_signatures
from aasee.processing.signatures.commands import parse_shell
from aasee.processing.signatures.facts import command_summary, decoded_text

from .builder import ROOT, Builder, resolve

SIGNATURES = {cls.id: cls for cls in all_signatures()}


def _only(report_builder: Builder, signature_id: str) -> list[str]:
    matches, errors = run_signatures(report_builder.build(), [SIGNATURES[signature_id]])
    assert errors == []
    return [e.summary for m in matches for e in m.evidence]


class TestScriptCommands:
    def test_builtins_of_the_sample_script_are_evidence(self) -> None:
        b = Builder(image="/tmp/sample.sh")
        b.shell_script("#!/bin/bash\nset +o history\nhistory -c\n")
        ctx = ReportIndex(b.build())
        (history,) = ctx.script_commands("history")
        assert history.ref == "/static/script/commands/1"
        assert history.process == ROOT and history.item.builtin and history.item.lineno == 3
        assert resolve(b.build(), history.ref)["argv"] == ["history", "-c"]
        assert command_summary(history) == (
            "script line 3: history -c (a shell builtin: no exec to trace)"
        )
        assert _only(b, "stealth_clear_command_history") == [command_summary(history)]

    def test_program_commands_are_joined_with_their_execs(self) -> None:
        b = Builder(image="/tmp/sample.sh")
        b.shell_script("#!/bin/sh\niptables -F\nrm -f /var/log/*.log\nufw disable\n")
        iptables = b.run(["iptables", "-F"], image="/usr/sbin/iptables")
        b.run(["rm", "-f", "/var/log/a.log", "/var/log/b.log"], image="/bin/rm")
        ctx = ReportIndex(b.build())
        flush, remove, ufw = ctx.script_commands()
        assert flush.item.ran == "/processes/1/execs/0" and flush.item.ran_pid == b.pid(iptables)
        assert remove.item.ran == "/processes/2/execs/0"  # the glob matched what it expanded to
        assert ufw.item.ran == "" and "no exec of it was traced" in command_summary(ufw)
        assert "traced: pid" in command_summary(flush)

    def test_dropped_scripts_count_once_they_ran_or_were_sourced(self) -> None:
        b = Builder()
        b.shell_script("#!/bin/sh\nunset HISTFILE\n", dropped="/tmp/run.sh")
        b.shell_script("#!/bin/sh\nexport HISTSIZE=0\n", dropped="/tmp/sourced.sh")
        b.shell_script("#!/bin/sh\nhistory -c\n", dropped="/tmp/never.sh")
        runner = b.run(["sh", "/tmp/run.sh"], image="/bin/sh")
        b.read("/tmp/sourced.sh", key=b.run(["bash"], image="/bin/bash"))
        ctx = ReportIndex(b.build())
        found = {(f.ref, f.item.line, f.process) for f in ctx.script_commands()}
        assert ("/dropped/0/static/script/commands/0", "unset HISTFILE", runner) in found
        assert any(ref.startswith("/dropped/1/") for ref, _, _ in found)
        assert not any(ref.startswith("/dropped/2/") for ref, _, _ in found)
        assert _only(b, "stealth_clear_command_history") == []
        assert len(_only(b, "impair_history_logging")) == 2

    def test_a_sample_that_never_ran_has_no_script_evidence(self) -> None:
        b = Builder(image="/tmp/sample.sh")
        b.shell_script("#!/bin/bash\nhistory -c\n")
        b.report.analysis.executed = False
        assert ReportIndex(b.build()).script_commands() == []

    def test_shell_text_of_execs_is_read_with_the_same_parser(self) -> None:
        script = parse_shell("x=$(curl -s http://h/a); trap 'rm -f /tmp/x' EXIT; sudo -l")
        assert [(c.name, c.context) for c in script.commands] == [
            ("curl", "$(...)"),
            ("", ""),
            ("trap", ""),
            ("rm", "trap"),
            ("sudo", ""),
        ]


class TestQuestions:
    def test_kernel_settings(self) -> None:
        b = Builder()
        b.write("/proc/sys/kernel/randomize_va_space", flags="O_WRONLY|O_TRUNC")
        b.shell("sysctl -w kernel.yama.ptrace_scope=0 vm/swappiness=10")
        settings = [(s.item.name, s.item.value) for s in ReportIndex(b.build()).kernel_settings()]
        assert settings == [
            ("kernel.randomize_va_space", None),
            ("kernel.yama.ptrace_scope", "0"),
            ("vm.swappiness", "10"),
        ]

    def test_program_copies(self) -> None:
        b = Builder()
        cp = b.run(["cp", "/bin/sh", "/tmp/crond"], image="/bin/cp")
        b.read("/lib/x86_64-linux-gnu/libc.so.6", key=cp)
        b.read("/bin/sh", key=cp)
        b.write("/tmp/crond", key=cp)
        shell = b.run(["sh", "-c", "cat /bin/ls > /tmp/l"], image="/bin/sh")
        b.write("/tmp/l", key=shell)
        cat = b.run(["cat", "/bin/ls"], parent=shell, image="/bin/cat")
        b.read("/bin/ls", key=cat)
        b.link("/tmp/py", "/usr/bin/python3")
        copies = ReportIndex(b.build()).program_copies
        assert {path: source for path, (source, _) in copies.items()} == {
            "/tmp/crond": "/bin/sh",
            "/tmp/l": "/bin/ls",
            "/tmp/py": "/usr/bin/python3",
        }

    def test_process_listers_and_package_installations(self) -> None:
        b = Builder()
        py = b.run(["python3", "/opt/top.py"], image="/usr/bin/python3")
        for pid in (1, 2, 3, 4, 5):
            b.read(f"/proc/{pid}/status", key=py)
        ps = b.run(["ps", "aux"], image="/bin/ps")
        apt = b.run(["apt-get", "install", "-y", "x"])
        script = b.run(["sh", "/var/lib/dpkg/info/x.postinst"], parent=apt, image="/bin/sh")
        ctx = ReportIndex(b.build())
        assert ctx.proc_scanners == {py, ps}
        assert ctx.installing(script) and not ctx.installing(py)

    def test_decoded_text(self) -> None:
        assert decoded_text("MTExLTExLTExMTE=") == "111-11-1111"
        assert decoded_text("NBSWY3DPEB3W64TMMQ") == "hello world"
        assert decoded_text("68656c6c6f776f726c64") == "helloworld"
        for word in ("updates", "a1b2c3d4e5f6", "deadbeefcafebabe", "x86_64-linux-gnu"):
            assert decoded_text(word) is None
