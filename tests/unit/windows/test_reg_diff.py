"""Wine hive files are parsed defensively and diffed into registry changes."""

from __future__ import annotations

from aasee.processing.windows.registry import diff_hives, parse_hive

BEFORE = r"""WINE REGISTRY Version 2
;; All keys relative to \\User\\S-1-5-21-0-0-0-1000

#arch=win64

[Software\\Microsoft\\Windows\\CurrentVersion\\Run] 1700000000
#time=1d9f0000000000

[Control Panel\\Desktop] 1700000000
"Wallpaper"=""
"ScreenSaveActive"="1"
"Old"=dword:00000001
"""

AFTER = r"""WINE REGISTRY Version 2
[Software\\Microsoft\\Windows\\CurrentVersion\\Run] 1700000100
"Updater"="C:\\users\\jmiller\\AppData\\Roaming\\u.exe"

[Control Panel\\Desktop] 1700000000
"Wallpaper"="C:\\x.bmp"
"ScreenSaveActive"="1"

[Software\\Evil] 1700000100
@=hex(2):25,00,54,00,00,00
"Big"=str(2):"%TEMP%\\\\a"
garbage line
"""


def test_diff_finds_values_keys_and_deletions() -> None:
    before, after = parse_hive(BEFORE), parse_hive(AFTER)
    assert after.skipped == 1
    changes = diff_hives(before, after, "HKEY_CURRENT_USER")
    found = {(c.action, c.key.rsplit("\\", 1)[-1], c.value): c for c in changes}
    run = found[("value_set", "Run", "Updater")]
    assert run.key == "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"
    assert run.data == "C:\\users\\jmiller\\AppData\\Roaming\\u.exe" and run.type == "REG_SZ"
    wallpaper = found[("value_set", "Desktop", "Wallpaper")]
    assert (wallpaper.old_data, wallpaper.data) == ("", "C:\\x.bmp")
    assert ("value_deleted", "Desktop", "Old") in found
    assert ("key_created", "Evil", None) in found
    assert found[("value_set", "Evil", "")].type == "REG_EXPAND_SZ"
    assert found[("value_set", "Evil", "")].data == "%T"
    assert ("value_set", "Desktop", "ScreenSaveActive") not in found


def test_deleted_keys_and_hostile_input() -> None:
    changes = diff_hives(parse_hive(BEFORE), parse_hive(""), "HKEY_CURRENT_USER")
    assert {c.action for c in changes} == {"key_deleted"}
    hostile = parse_hive("[" * 5000 + '\n"x"="y"\n' + "\\" * 10000)
    assert hostile.keys == {}
