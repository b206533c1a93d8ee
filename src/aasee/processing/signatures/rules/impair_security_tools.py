"""Security tools disabled: SELinux or AppArmor switched off, security or monitoring agents
stopped, killed or uninstalled."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

AGENTS = frozenset(
    {"apparmor", "falcon-sensor", "falcond", "osqueryd", "osquery", "wazuh-agent",
     "wazuh-agentd", "ossec", "ossec-agentd", "clamd", "clamav-daemon", "clamav-freshclam",
     "freshclam", "sav-protect", "savd", "ds_agent", "cbagentd", "cbdaemon", "sentinelone",
     "sentinelagent", "aegis", "aliyun", "AliYunDun", "AliYunDunUpdate", "aliyun-service",
     "cloudmonitor", "YDService", "YDLive", "sgagent", "barad_agent", "bcm-agent",
     "hostguard", "elastic-agent", "elastic-endpoint", "mdatp", "wdavdaemon", "taniumclient",
     "TaniumClient", "cylancesvc", "fail2ban", "fail2ban-server", "snort", "suricata",
     "aide", "tripwire", "rkhunter", "falcon", "crowdstrike", "esets", "eset", "kesl",
     "klnagent", "mfetpd", "isectpd", "sophos-spl", "sav-rms", "cbsensor", "cb-psc-sensor",
     "traps_pmd", "cortex-xdr", "xagt", "qualys-cloud-agent", "ir_agent", "sysdig", "falco",
     "tetragon", "tracee", "auditbeat", "filebeat", "lacework", "datadog-agent",
     "amazon-ssm-agent", "google-guest-agent", "waagent", "walinuxagent"}
)  # fmt: skip
STOPPING = frozenset({"stop", "disable", "mask", "kill"})
KILLERS = ("pkill", "killall")
AGENT_DIRS = ("/usr/local/aegis/**", "/usr/local/qcloud/**", "/usr/local/cloudmonitor/**",
              "/opt/CrowdStrike/**", "/opt/sentinelone/**", "/var/ossec/**",
              "/opt/microsoft/mdatp/**", "/opt/sophos-spl/**", "/opt/eset/**",
              "/opt/kaspersky/**", "/opt/McAfee/**", "/opt/carbonblack/**",
              "/opt/traps/**")  # fmt: skip
REMOVERS = {"apt": "remove", "apt-get": "remove", "dnf": "remove", "yum": "remove",
            "zypper": "remove", "dpkg": "-r", "rpm": "-e"}  # fmt: skip
PURGING = frozenset({"remove", "purge", "autoremove", "erase", "-r", "-P", "--remove",
                     "--purge", "-e", "--erase"})  # fmt: skip


class SecurityToolsDisable(Signature):
    id = "impair_security_tools"
    name = "Disables security tools"
    description = (
        "Runs setenforce 0 or rewrites /etc/selinux/config, tears down or disables AppArmor "
        "profiles, or stops, kills, uninstalls, reconfigures (mdatp real-time protection off) "
        "or deletes a security or cloud monitoring agent (EDR, antivirus, osquery, Wazuh, "
        "fail2ban, the Aliyun/Tencent agents miners remove...)."
    )
    severity = "high"
    category = "defense-impairment"
    techniques = ("T1685",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("setenforce"):
            if set(run.item.args) & {"0", "Permissive", "permissive"}:
                yield run.evidence(command_summary(run))
        for found in ctx.modified(("/etc/selinux/config",)):
            yield found.evidence(file_summary(found))
        for run in ctx.commands("aa-teardown", "aa-disable", "aa-complain"):
            yield run.evidence(command_summary(run))
        for run in ctx.commands("apparmor_parser"):
            if {"-R", "--remove"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("systemctl", "service"):
            words = {a.removesuffix(".service") for a in run.item.args}
            if words & AGENTS and words & STOPPING:
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*KILLERS):
            if {a.lstrip("-") for a in run.item.args} & AGENTS:
                yield run.evidence(command_summary(run))
        for found in ctx.files("deleted", AGENT_DIRS):
            yield found.evidence(file_summary(found, "deleted"))
        for run in ctx.commands(*REMOVERS):
            given = set(run.item.args)
            if given & PURGING and given & AGENTS:
                yield run.evidence(command_summary(run))
        for run in ctx.commands("mdatp"):
            args = run.item.args
            if "config" in args and ("disabled" in args or "false" in args):
                yield run.evidence(command_summary(run))
        for found in ctx.modified(("/etc/apparmor.d/disable/*",)):
            yield found.evidence(file_summary(found))
