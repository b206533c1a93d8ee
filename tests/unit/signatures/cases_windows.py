"""Positive and near-miss cases of the Windows signatures (a PE sample run by Wine; see
:mod:`.cases`, which merges these). Each case fills the report the way the trace and the
windows plugin would: Windows programs are Wine processes whose argv is the caller's command
line (cut to six words by the trace), registry changes come from the hives before and after
the run, files written by Wine's services only from the host-side disk diff. Each near miss
is what an installer, an updater or an ordinary Windows program does."""

from __future__ import annotations

from collections.abc import Callable

from aasee.images.wine_prefix import WINE_PREFIX, WindowsProfile

from .builder import Builder

Case = Callable[[Builder], None]

USER = r"C:\users\jmiller"
APPDATA = rf"{USER}\AppData\Roaming"
LOCAL = rf"{USER}\AppData\Local"
START_MENU = rf"{APPDATA}\Microsoft\Windows\Start Menu\Programs"
RUN = r"[Software\\Microsoft\\Windows\\CurrentVersion\\Run] 1700000000"
SERVICES = r"System\\CurrentControlSet\\Services"


def c(path: str) -> str:
    """The guest path of a ``C:\\`` path in the Wine prefix."""
    assert path[:3] == "C:\\", path
    return f"{WINE_PREFIX}/drive_c/" + path[3:].replace("\\", "/")


# --- execution -------------------------------------------------------------------------
def pos_win_execution_cmd(b: Builder) -> None:
    b.wine()
    # Self-deletion through cmd: wait, then delete the sample (the trace keeps six words).
    shell = b.win_run(
        ["cmd.exe", "/c", "ping", "127.0.0.1", "-n", "3", ">", "nul", "&", "del",
         rf"{USER}\Downloads\sample.exe"]
    )  # fmt: skip
    b.win_run(["ping", "127.0.0.1", "-n", "3"], parent=shell)


def neg_win_execution_cmd(b: Builder) -> None:
    b.wine()
    # Wine's console host for a console program, a file opened in Notepad, cmd.exe looked at
    # (version check) and a batch file written: nothing starts cmd.exe.
    b.win_run(
        [r"C:\windows\system32\conhost.exe", "--unix", "--width", "80", "--height", "25",
         "--server", "0x10"]
    )  # fmt: skip
    b.win_run(["notepad.exe", rf"{USER}\Downloads\README.txt"])
    b.read(c(r"C:\windows\system32\cmd.exe"))
    b.write(c(rf"{LOCAL}\Temp\cleanup.bat"))


def pos_win_execution_powershell(b: Builder) -> None:
    b.wine()
    shell = b.win_run(["cmd.exe", "/c", "powershell", "-NoP", "-W", "Hidden", "-enc", "SQBFAFgA"])
    b.win_run(["powershell", "-NoP", "-W", "Hidden", "-enc", "SQBFAFgA"], parent=shell)
    b.win_run(["powershell.exe", "-ExecutionPolicy", "Bypass", "-File", rf"{LOCAL}\Temp\a.ps1"])


def neg_win_execution_powershell(b: Builder) -> None:
    b.wine()
    # An installer checking which PowerShell there is, and writing (not running) a script.
    b.win_run(
        ["reg.exe", "query", r"HKLM\SOFTWARE\Microsoft\PowerShell\3\PowerShellEngine", "/v",
         "PowerShellVersion"]
    )  # fmt: skip
    b.win_run(["where.exe", "powershell.exe"])
    b.write(c(rf"{LOCAL}\Temp\setup.ps1"))


def pos_win_execution_script_host(b: Builder) -> None:
    b.wine()
    b.write(c(rf"{LOCAL}\Temp\x.vbs"))
    b.win_run(["wscript.exe", "//B", "//E:vbscript", rf"{LOCAL}\Temp\x.vbs"])
    b.win_run(["cscript", "//nologo", rf"{APPDATA}\y.js"])


def neg_win_execution_script_host(b: Builder) -> None:
    b.wine()
    # A script written and opened in an editor; the Scripting Runtime registered.
    b.write(c(rf"{LOCAL}\Temp\x.vbs"))
    b.win_run(["notepad.exe", rf"{LOCAL}\Temp\x.vbs"])
    b.win_run(["regsvr32.exe", "/s", r"C:\windows\system32\scrrun.dll"])


# --- discovery -------------------------------------------------------------------------
def pos_win_discovery_accounts(b: Builder) -> None:
    b.wine()
    b.win_run(["cmd.exe", "/c", "net", "users", ">", rf"{LOCAL}\Temp\u.txt"])
    b.win_run([r"C:\windows\system32\net.exe", "localgroup", "administrators"])
    b.win_run(["wmic.exe", "useraccount", "get", "name,sid"])


def neg_win_discovery_accounts(b: Builder) -> None:
    b.wine()
    # Mapping a share, starting and stopping services: the same net.exe, not accounts.
    b.win_run(["net.exe", "use", "Z:", r"\\fileserver\share", "/persistent:no"])
    b.win_run(["cmd.exe", "/c", "net", "start", "Spooler"])
    b.win_run(["net.exe", "stop", "Acme Updater"])


def pos_win_discovery_network_config(b: Builder) -> None:
    b.wine()
    b.win_run(["ipconfig.exe", "/all"])
    b.win_run(["cmd.exe", "/c", "route", "print", "&", "arp", "-a"])


def neg_win_discovery_network_config(b: Builder) -> None:
    b.wine()
    # A VPN client: its route and firewall rule; a connection listing (T1049, not T1016).
    b.win_run(["route.exe", "add", "10.8.0.0", "mask", "255.255.0.0", "10.8.0.1"])
    b.win_run(
        ["netsh.exe", "advfirewall", "firewall", "add", "rule", "name=Acme VPN", "dir=in",
         "action=allow"]
    )  # fmt: skip
    b.win_run(["netstat.exe", "-ano"])


def pos_win_discovery_owner(b: Builder) -> None:
    b.wine()
    shell = b.win_run(["cmd.exe", "/c", "whoami", "/user"])
    b.win_run(["whoami", "/user"], parent=shell)


def neg_win_discovery_owner(b: Builder) -> None:
    b.wine()
    b.win_run(["tasklist.exe", "/fo", "csv", "/nh"])
    b.win_run(["hostname.exe"])
    b.read(c(rf"{USER}\NTUSER.DAT"))


def pos_win_discovery_system_info(b: Builder) -> None:
    b.wine()
    shell = b.win_run(["cmd.exe", "/c", "systeminfo", ">", rf"{LOCAL}\Temp\si.txt"])
    b.win_run(["systeminfo"], parent=shell)
    b.win_run(["cmd.exe", "/c", "ver"])
    b.win_run(["wmic.exe", "os", "get", "Caption,Version,OSArchitecture"])
    b.win_run([r"C:\windows\system32\hostname.exe"])


def neg_win_discovery_system_info(b: Builder) -> None:
    b.wine()
    # An installer reading its own version file and listing installed products (T1518).
    b.win_run(["cmd.exe", "/c", "type", r"C:\Program Files\Acme\version.txt"])
    b.win_run(["wmic.exe", "product", "get", "name,version"])
    b.win_run(["cmd.exe", "/c", "verify", "on"])


# --- impact ----------------------------------------------------------------------------
def pos_win_impact_inhibit_recovery(b: Builder) -> None:
    b.wine()
    # The classic one-liner, cut to its first six words by the trace, still names the deed.
    b.win_run(
        ["cmd.exe", "/c", "vssadmin", "delete", "shadows", "/all", "/quiet", "&", "wmic",
         "shadowcopy", "delete"]
    )  # fmt: skip
    b.win_run(["wmic.exe", "shadowcopy", "delete", "/nointeractive"])
    b.win_run(["cmd.exe", "/c", "bcdedit /set {default} recoveryenabled No"])  # was quoted


def neg_win_impact_inhibit_recovery(b: Builder) -> None:
    b.wine()
    # A backup tool looking at what there is: shadows, backups, the boot configuration.
    b.win_run(["cmd.exe", "/c", "vssadmin", "list", "shadows"])
    b.win_run(["wmic.exe", "shadowcopy", "list", "brief"])
    b.win_run(["cmd.exe", "/c", "wbadmin", "get", "versions"])
    b.win_run(["cmd.exe", "/c", "bcdedit", "/enum", "{default}"])


def pos_win_impact_mass_encryption(b: Builder) -> None:
    b.wine()
    for name, _ in WindowsProfile().documents:
        path = c(rf"{USER}\{name}".replace("/", "\\"))
        b.read(path)
        b.write(path, flags="O_RDWR")  # encrypted in place...
        b.rename(path, f"{path}.lockbit")  # ...and renamed


def neg_win_impact_mass_encryption(b: Builder) -> None:
    b.wine()
    downloads = c(rf"{USER}\Downloads")
    for name in ("driver.zip", "manual.pdf", "setup.msi"):  # a downloader's partial files
        b.write(f"{downloads}/{name}.crdownload")
        b.rename(f"{downloads}/{name}.crdownload", f"{downloads}/{name}")
    documents = c(rf"{USER}\Documents")
    b.write(f"{documents}/~WRL0001.tmp")  # an editor saving through a temporary file
    b.rename(f"{documents}/~WRL0001.tmp", f"{documents}/Meeting notes.docx")
    b.rename(f"{documents}/Budget 2024.csv", f"{documents}/Budget 2024.csv.bak")  # a backup
    b.rename(f"{documents}/Budget 2024.csv.new", f"{documents}/Budget 2024.csv")
    pictures = c(rf"{USER}\Pictures")
    for number in range(1, 4):  # a photo tool lower-casing extensions
        b.rename(f"{pictures}/IMG_000{number}.JPG", f"{pictures}/IMG_000{number}.jpg")
    b.rename(f"{documents}/todo.txt", f"{documents}/todo.md")  # one file, one new extension


def pos_win_impact_ransom_note(b: Builder) -> None:
    b.wine()
    for folder in ("Desktop", "Documents", r"Documents\Invoices", "Pictures", "Downloads"):
        b.write(c(rf"{USER}\{folder}\Restore-My-Files.txt"))


def neg_win_impact_ransom_note(b: Builder) -> None:
    b.wine()
    # A self-extracting installer: its README unpacked to %TEMP%, installed per user, and the
    # same tool's zip unpacked in Downloads (a README at the top and in docs).
    b.write(c(rf"{LOCAL}\Temp\7zS1A2B\README.txt"))
    b.write(c(rf"{LOCAL}\Programs\Acme\README.txt"))
    b.write(c(rf"{LOCAL}\Programs\Acme\LICENSE.txt"))
    b.write(c(rf"{USER}\Downloads\acme-tools-1.2\README.txt"))
    b.write(c(rf"{USER}\Downloads\acme-tools-1.2\docs\readme.txt"))
    b.write(c(rf"{USER}\Documents\Acme\restore-settings.ini"))  # not a text note


# --- persistence -----------------------------------------------------------------------
def pos_win_persistence_run_key(b: Builder) -> None:
    b.wine()
    b.hive(
        "user.reg",
        before="",
        after=RUN + "\n#time=1da0c3f6a2b4c10\n"
        r'"OneDrive Update"="C:\\users\\jmiller\\AppData\\Roaming\\Microsoft\\OneDriveUpd.exe"'
        "\n",
    )
    b.hive(
        "system.reg",
        before=r"[Software\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\RunOnce] 1" "\n",
        after=r"[Software\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\RunOnce] 2" "\n"
        r'"svc"="C:\\ProgramData\\svc.exe /install"' "\n",
    )  # fmt: skip


def neg_win_persistence_run_key(b: Builder) -> None:
    b.wine()
    uninstall = r"[Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Acme] 2"
    app_paths = r"[Software\\Microsoft\\Windows\\CurrentVersion\\App Paths\\acme.exe] 2"
    approved = r"[Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\StartupApproved\\Run] 2"
    # An updater registering itself (Uninstall, App Paths) and turning "start at logon" off:
    # its Run value removed, the startup entry marked disabled.
    b.hive(
        "user.reg",
        before=RUN + "\n" r'"Acme"="\"C:\\users\\jmiller\\AppData\\Local\\Acme\\acme.exe\""'
        "\n",
        after=RUN + "\n\n" + uninstall + "\n"
        r'"DisplayName"="Acme"' "\n"
        r'"UninstallString"="C:\\users\\jmiller\\AppData\\Local\\Acme\\uninstall.exe"' "\n\n"
        + app_paths + "\n" r'@="C:\\users\\jmiller\\AppData\\Local\\Acme\\acme.exe"' "\n\n"
        + approved + "\n" r'"Acme"=hex:03,00,00,00,6a,1b,2c,3d,4e,5f,da,01' "\n",
    )  # fmt: skip


def pos_win_persistence_scheduled_task(b: Builder) -> None:
    b.wine()
    b.win_run(
        ["schtasks.exe", "/create", "/sc", "onlogon", "/tn", r"Microsoft\Windows\Update",
         "/tr", rf"{APPDATA}\upd.exe", "/rl", "highest", "/f"]
    )  # fmt: skip
    # The task file is written by Wine's Task Scheduler service: only the disk diff sees it.
    b.disk_change(c(r"C:\windows\system32\Tasks\Microsoft\Windows\Update"), "ab" * 32)
    b.win_run(["cmd.exe", "/c", "at", "09:00", "/every:M,T,W,Th,F", rf"{APPDATA}\upd.exe"])


def neg_win_persistence_scheduled_task(b: Builder) -> None:
    b.wine()
    # An uninstaller listing the tasks and deleting its own; a script logging a time.
    b.win_run(["schtasks.exe", "/query", "/fo", "LIST", "/v"])
    b.win_run(["schtasks.exe", "/delete", "/tn", "Acme Updater", "/f"])
    b.disk_change(c(r"C:\windows\system32\Tasks\Acme Updater"), None, change="deleted")
    tree = r"[Software\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tree"
    b.hive("system.reg", before=tree + r"\\Acme Updater] 1" "\n" r'"Id"="{1A2B}"' "\n", after="")
    b.win_run(
        ["cmd.exe", "/c", "echo", "started", "at", "10:32", ">>", rf"{LOCAL}\Acme\backup.log"]
    )
    b.win_run(["at.exe", "1", "/delete", "/yes"])


def pos_win_persistence_service(b: Builder) -> None:
    b.wine()
    b.win_run(
        ["sc.exe", "create", "WinDefendSvc", "binPath=", rf"{APPDATA}\svc.exe", "start=",
         "auto"]
    )  # fmt: skip
    # services.exe (not the sample's tree) writes the key: the hive diff sees it.
    b.hive(
        "system.reg",
        before="",
        after="[" + SERVICES + r"\\WinDefendSvc] 1" "\n"
        r'"ImagePath"=str(2):"C:\\users\\jmiller\\AppData\\Roaming\\svc.exe"' "\n"
        r'"Start"=dword:00000002' "\n" r'"Type"=dword:00000010' "\n",
    )  # fmt: skip


def neg_win_persistence_service(b: Builder) -> None:
    b.wine()
    # A tuning tool: queries a service, stops and disables Windows Update; an application
    # registering its event log source (a key under Services, not a service).
    b.win_run(["sc.exe", "query", "wuauserv"])
    b.win_run(["cmd.exe", "/c", "sc", "stop", "wuauserv"])
    b.win_run(["sc.exe", "config", "wuauserv", "start=", "disabled"])
    wuauserv = "[" + SERVICES + r"\\wuauserv] 1" "\n"
    source = "[" + SERVICES + r"\\EventLog\\Application\\Acme] 2" "\n"
    b.hive(
        "system.reg",
        before=wuauserv + r'"ImagePath"=str(2):"C:\\windows\\system32\\wuauserv.exe"' "\n"
        r'"Start"=dword:00000003' "\n",
        after=wuauserv + r'"ImagePath"=str(2):"C:\\windows\\system32\\wuauserv.exe"' "\n"
        r'"Start"=dword:00000004' "\n\n" + source
        + r'"EventMessageFile"="C:\\users\\jmiller\\AppData\\Local\\Acme\\acme.exe"' "\n",
    )  # fmt: skip


def pos_win_persistence_startup_folder(b: Builder) -> None:
    b.wine()
    b.write(c(rf"{START_MENU}\Startup\OneDriveUpdate.lnk"))
    drop = c(rf"{LOCAL}\Temp\svc.vbs")
    b.write(drop)
    b.rename(drop, c(r"C:\ProgramData\Microsoft\Windows\Start Menu\Programs\StartUp\svc.vbs"))


def neg_win_persistence_startup_folder(b: Builder) -> None:
    b.wine()
    # An installer's shortcuts (Start Menu, Desktop), an app's own "Startup" settings
    # folder, and its old autostart shortcut removed.
    b.write(c(rf"{START_MENU}\Acme\Acme.lnk"))
    b.write(c(rf"{USER}\Desktop\Acme.lnk"))
    b.write(c(rf"{APPDATA}\Acme\Startup\options.ini"))
    b.delete(c(rf"{START_MENU}\Startup\Acme.lnk"))


# --- stealth ---------------------------------------------------------------------------
def pos_win_stealth_copy_to_appdata(b: Builder) -> None:
    b.wine()
    b.read(c(rf"{USER}\Downloads\sample.exe"))
    copy = c(rf"{APPDATA}\Microsoft\Windows\Templates\msupdate.exe")
    b.write(copy)  # CopyFile: the trace sees the write, the disk diff the bytes
    b.disk_change(copy, "0" * 64)
    # MoveFile of the running program itself, to a system-looking name.
    b.rename(c(rf"{USER}\Downloads\sample.exe"), c(rf"{LOCAL}\Microsoft\wuauclt.exe"))


def neg_win_stealth_copy_to_appdata(b: Builder) -> None:
    b.wine()
    # An NSIS installer: plug-in DLLs unpacked into %TEMP%, settings in AppData, the program
    # itself installed under Program Files; a download WinINet caches.
    plugins = rf"{LOCAL}\Temp\nsa1B2C.tmp"
    b.write(c(rf"{plugins}\System.dll"))
    b.write(c(rf"{plugins}\nsDialogs.dll"))
    b.write(c(rf"{APPDATA}\Acme\settings.ini"))
    b.disk_change(c(rf"{APPDATA}\Acme\settings.ini"), "cd" * 32)
    b.write(c(r"C:\Program Files\Acme\acme.exe"))
    b.disk_change(c(r"C:\Program Files\Acme\acme.exe"), "ef" * 32)
    b.write(c(rf"{LOCAL}\Microsoft\Windows\INetCache\IE\X1Y2Z3\acme-update[1].exe"))


POSITIVE: dict[str, Case] = {
    name[4:]: fn for name, fn in list(globals().items()) if name.startswith("pos_")
}
NEGATIVE: dict[str, Case] = {
    name[4:]: fn for name, fn in list(globals().items()) if name.startswith("neg_")
}
