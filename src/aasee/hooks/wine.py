"""Wine evidence: the prefix's registry hives before the sample ran and after it.

Loaded by default and inert unless the sample is a Windows PE file. On ``agent_ready`` (before
the sample runner starts the sample: this hook is loaded before it) it copies the prefix's
hive files (``system.reg``, ``user.reg``, ``userdef.reg``) out of the guest, which nothing
of the sample has touched yet. On ``pre_poweroff`` it makes the prefix's wineserver write its
registry to the hives (Wine keeps the registry in the server's memory and saves it
periodically and when the server ends: SIGTERM makes it save and exit), syncs the guest's
disks, and copies the hives again. The host-side disk diff then finds the same files changed
on the run's disk overlay; postprocessing prefers those (``processing.windows``) and falls
back to the copies taken here, saying which it used.

Leaves ``wine/before/<hive>``, ``wine/after/<hive>`` and ``wine.json`` (the manifest).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from aasee.arch.pe_header import PE_HEAD_BYTES, identify_pe
from aasee.core import Event, Hook, HookParameters
from aasee.hooks._util import results_dir
from aasee.images.wine_prefix import HIVES, WINE_PREFIX

__all__ = ["WINE_MANIFEST", "WineRegistryHook"]

WINE_MANIFEST = "wine.json"
HIVE_CAP = 32 << 20
FLUSH_SCRIPT = (
    'pids=$(pidof wineserver); [ -n "$pids" ] || exit 0; kill -TERM $pids; '
    "i=0; while pidof wineserver >/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); "
    "done; sync; : > /run/.hives-saved"
)
SAVED_MARK = "/run/.hives-saved"
FLUSH_WAIT = 3.0


class WineRegistryHook(Hook):
    """configuration: ``results_dir``, ``sample_path`` (host); ``wine_prefix`` (guest)."""

    def __init__(self, parameters: HookParameters) -> None:
        super().__init__(parameters)
        self.agent: Any = None
        self.active = False
        self.prefix = str(self.configuration.get("wine_prefix", WINE_PREFIX)).rstrip("/")
        self.manifest: dict[str, Any] = {"prefix": self.prefix, "hives": {}, "errors": []}
        self.context.subscribe("agent_ready", self._before)
        self.context.subscribe("pre_poweroff", self._after)

    def _is_pe(self) -> bool:
        try:
            with open(str(self.configuration["sample_path"]), "rb") as handle:
                return identify_pe(handle.read(PE_HEAD_BYTES)) is not None
        except (KeyError, OSError):
            return False

    def _copy(self, stage: str) -> None:
        out = results_dir(self) / "wine" / stage
        out.mkdir(parents=True, exist_ok=True)
        for name in HIVES:
            entry = self.manifest["hives"].setdefault(name, {})
            try:
                got = self.agent.get_file(f"{self.prefix}/{name}", HIVE_CAP, timeout=30)
            except Exception as exc:  # the evidence is lost, never the analysis
                self.manifest["errors"].append(f"{stage} {name}: {exc}")
                continue
            if not got.exists or got.data is None or got.truncated:
                self.manifest["errors"].append(f"{stage} {name}: not copied (missing or too big)")
                continue
            (out / name).write_bytes(got.data)
            entry[stage] = hashlib.sha256(got.data).hexdigest()

    def _before(self, event: Event) -> None:
        if not self._is_pe():
            return
        self.active = True
        self.agent = event.agent
        started = time.monotonic()
        self._copy("before")
        self.manifest["before_seconds"] = round(time.monotonic() - started, 3)

    def _after(self, event: Event) -> None:
        if not self.active or self.agent is None:
            return
        started = time.monotonic()
        try:
            self.agent.execute(
                ["/bin/sh", "-c", FLUSH_SCRIPT], cwd="/", user="root", env={}, trace=False
            )
            deadline = time.monotonic() + FLUSH_WAIT
            while time.monotonic() < deadline:
                time.sleep(0.1)
                if self.agent.get_file(SAVED_MARK, 16, timeout=5).exists:
                    break
            else:
                self.manifest["errors"].append("registry flush: wineserver did not end in time")
        except Exception as exc:
            self.manifest["errors"].append(f"registry flush: {exc}")
        self._copy("after")
        self.manifest["after_seconds"] = round(time.monotonic() - started, 3)
        path = results_dir(self) / WINE_MANIFEST
        path.write_text(json.dumps(self.manifest, indent=1) + "\n")
        self.context.trigger("artifact", name=WINE_MANIFEST, size=path.stat().st_size)
