"""``aasee karton`` refuses bad configuration and unreachable servers with a clear message
and the documented exit code, before it takes any task."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aasee.cli import exit_codes
from aasee.cli.main import main


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    config = tmp_path / "aasee.toml"
    config.write_text(
        f'home = "{tmp_path}/home"\n'
        f'database_url = "sqlite:///{tmp_path}/aasee.db"\n'
        f'queue_url = "sqlite:///{tmp_path}/queue.db"\n'
        f'storage_url = "file://{tmp_path}/storage"\n'
    )
    return config


def _karton(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["karton", *args])
    return result.exit_code, result.output


def test_a_missing_karton_configuration_is_bad_input(settings_file: Path, tmp_path: Path) -> None:
    code, output = _karton(
        "--config", str(settings_file), "--karton-config", str(tmp_path / "nope.ini")
    )
    assert code == exit_codes.BAD_INPUT
    assert "nope.ini" in output and "[s3]" in output


def test_a_bad_aasee_section_is_bad_input(settings_file: Path, tmp_path: Path) -> None:
    ini = tmp_path / "karton.ini"
    ini.write_text(
        "[s3]\naddress = http://127.0.0.1:9\n[redis]\nhost = x\n[aasee]\nnetwork = lan\n"
    )
    code, output = _karton("--config", str(settings_file), "--karton-config", str(ini))
    assert code == exit_codes.BAD_INPUT
    assert "[aasee]" in output and "network" in output


def test_an_unreachable_redis_is_reported(settings_file: Path, tmp_path: Path) -> None:
    ini = tmp_path / "karton.ini"
    ini.write_text(
        "[s3]\naddress = http://127.0.0.1:9\naccess_key = a\nsecret_key = b\nbucket = karton\n"
        f"[redis]\nurl = unix://{tmp_path}/no-redis.sock\nsocket_timeout = 2\n"
    )
    code, output = _karton("--config", str(settings_file), "--karton-config", str(ini))
    assert code == exit_codes.FAILED
    assert "cannot reach karton's Redis" in output
