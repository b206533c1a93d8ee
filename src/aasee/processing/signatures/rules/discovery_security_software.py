"""Security software discovery: processes, services, packages or install directories of
security products looked for by name."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

PRODUCTS = re.compile(
    r"(?<![a-z0-9])(?:falcon|crowdstrike|cbagent|cbdaemon|carbonblack|cb-psc|sentinel|osquery|wazuh|ossec|"
    r"auditbeat|packetbeat|filebeat|td-agent|nessus|clamav|clamd|freshclam|sophos|savd|eset|"
    r"kaspersky|kesl|klnagent|mcafee|mfetp|symantec|trendmicro|ds_agent|cylance|elastic-agent|"
    r"elastic-endpoint|mdatp|wdavdaemon|defender|tanium|qualys|rapid7|ir_agent|fireeye|xagt|"
    r"cybereason|bitdefender|bdsec|f-secure|avast|drweb|comodo|lacework|sysdig|falco|"
    r"tetragon|tracee|aegis|aliyundun|yunjing|ydservice|ydlive|qcloud|bcm-agent|hostguard|"
    r"cortex|traps_pmd|auditd|aide|tripwire|rkhunter|chkrootkit|snort|suricata|zeek|sysmon|"
    r"apparmor|selinux|fail2ban|bareos-fd|icinga2|nagios|zabbix)",
    re.IGNORECASE,
)
LOOKERS = ("grep", "egrep", "fgrep", "pgrep", "pidof", "rg")
SERVICE_QUERIES = frozenset({"status", "is-active", "is-enabled", "list-units", "show", "cat"})
PRODUCT_DIRS = ("/opt/CrowdStrike", "/opt/sentinelone", "/opt/carbonblack", "/var/ossec",
                "/etc/osquery", "/opt/microsoft/mdatp", "/opt/sophos-spl", "/opt/eset",
                "/opt/kaspersky", "/opt/McAfee", "/opt/Tanium", "/opt/cylance", "/opt/traps",
                "/usr/local/aegis", "/usr/local/qcloud", "/opt/ds_agent", "/etc/falco")  # fmt: skip


class SecuritySoftwareDiscovery(Signature):
    id = "discovery_security_software"
    name = "Looks for security software"
    description = (
        "Greps the process list, pgrep/pidof, systemctl status or the package list for "
        "security products (EDR and antivirus agents, osquery, Wazuh, auditd, Falco, the "
        "cloud providers' agents...), or looks into their install directories: what watches "
        "the host, found before it is avoided or disabled."
    )
    severity = "low"
    category = "discovery"
    techniques = ("T1518.001",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*LOOKERS):
            if any(PRODUCTS.search(a) for a in run.item.args if not a.startswith("/")):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("systemctl", "service", "dpkg", "rpm", "dpkg-query"):
            args = run.item.args
            querying = (
                bool(SERVICE_QUERIES & set(args))
                if run.item.name in ("systemctl", "service")
                else any(a in ("-l", "-s", "-q", "-qa", "-W", "--list", "--status") for a in args)
            )
            if querying and any(PRODUCTS.search(a) for a in args):
                yield run.evidence(command_summary(run))
        globs = [f"{d}/**" for d in PRODUCT_DIRS]
        for found in [*ctx.files("directories", PRODUCT_DIRS), *ctx.files("read", globs)]:
            yield found.evidence(file_summary(found, "looked into"))
