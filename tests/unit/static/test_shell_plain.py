"""The parser's short cut for a command of plain words (most ``sh -c`` texts a trace holds)
gives what the parser gives."""

from __future__ import annotations

import random

from aasee.processing.static import shell

WORDS = [
    "job", "1", "id", "-u", "echo", "hi", "sudo", "sh", "bash", "busybox", "eval", "trap",
    "find", "su", "time", "if", "for", "export", "cd", ".", "source", "nohup", "env", "x.sh",
    "/usr/bin/curl", "http:", "a,b", "%", "@x", "+1", "-", "--", "exec", "command", "xargs",
    "{", "}", "[[", "!", "a.b", "true", "kill", "read", "unset", "ls", "/bin/sh", "python3",
    "-c", "print", "do", "done", "case", "esac", "function", "select", "coproc", "/sbin/su",
]  # fmt: skip


def test_plain_commands_parse_as_the_parser_parses_them() -> None:
    rng = random.Random(5)
    plain = 0
    for _ in range(5000):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        assert shell.parse_script(text) == shell._parse_script(text, shell.MAX_COMMANDS), text
        plain += shell._plain_command(text, shell.MAX_COMMANDS) is not None
    assert 1000 < plain < 4900


def test_what_is_not_plain_goes_to_the_parser() -> None:
    for text in ["", " job", "job ", "job  1", "a=1 job", "job $x", "job 'x'", "job;x",
                 "job # c", "job\n1", "x" * (shell.MAX_WORD + 1), " ".join(["w"] * 65),
                 "sh -c id", "/usr/bin/sudo id", "if true"]:  # fmt: skip
        assert shell._plain_command(text, shell.MAX_COMMANDS) is None, text
        assert shell.parse_script(text) == shell._parse_script(text, shell.MAX_COMMANDS)
    assert shell._plain_command("job 1", 0) is None


def test_shell_text_of_plain_words_gives_the_commands_of_the_parser() -> None:
    from aasee.processing.signatures.commands import _COMMANDS_LIMIT, _from_parsed, parse_shell

    rng = random.Random(9)
    for _ in range(3000):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        parsed = shell._parse_script(text, _COMMANDS_LIMIT)
        assert parse_shell(text).commands == tuple(_from_parsed(c) for c in parsed.commands)
