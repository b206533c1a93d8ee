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
     "aide", "tripwire", "rkhunter"}
)  # fmt: skip
STOPPING = frozenset({"stop", "disable", "mask", "kill"})
KILLERS = ("pkill", "killall")
AGENT_DIRS = ("/usr/local/aegis/**", "/usr/local/qcloud/**", "/usr/local/cloudmonitor/**",
              "/opt/CrowdStrike/**", "/opt/sentinelone/**", "/var/ossec/**")  # fmt: skip


class SecurityToolsDisable(Signature):
    id = "impair_security_tools"
    name = "Disables security tools"
    description = (
        "Runs setenforce 0 or rewrites /etc/selinux/config, tears down AppArmor, or stops, "
        "kills or deletes a security or cloud monitoring agent (EDR, antivirus, osquery, "
        "Wazuh, fail2ban, the Aliyun/Tencent agents miners remove...)."
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
