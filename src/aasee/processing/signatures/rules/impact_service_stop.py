"""Services stopped: systemctl or service stop/disable/mask, daemons killed by name."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

STOPPING = frozenset({"stop", "disable", "mask", "kill"})
DAEMONS = frozenset(
    {"cron", "crond", "atd", "sshd", "ssh", "nginx", "apache2", "httpd", "mysqld", "mysql",
     "mariadb", "postgres", "postgresql", "redis-server", "redis", "mongod", "mongodb",
     "docker", "dockerd", "containerd", "elasticsearch", "tomcat", "tomcat9", "php-fpm",
     "named", "bind9", "postfix", "exim4", "dovecot", "smbd", "nmbd", "nfs-server", "vsftpd",
     "proftpd", "memcached", "rabbitmq-server", "kubelet", "libvirtd", "qemu-kvm", "cupsd",
     "chronyd", "ntpd", "systemd-timesyncd", "NetworkManager", "networking", "udev",
     "systemd-udevd", "dbus", "polkit", "snapd", "squid", "haproxy", "varnishd", "influxd",
     "jenkins", "gitlab-runsvdir", "zabbix-agent", "nagios", "zookeeper", "kafka", "java"}
)  # fmt: skip
KILLERS = ("killall", "pkill")
PGREP_IN_KILL = re.compile(r"\$\(\s*(pgrep|pidof)\s+(?:-\w+\s+)*([\w.-]+)")


class ServiceStop(Signature):
    id = "impact_service_stop"
    name = "Stops system services"
    description = (
        "Runs systemctl or service to stop, disable or mask a service, /etc/init.d/X stop, "
        "or kills a known daemon by name (killall cron, pkill sshd, kill $(pgrep nginx)): "
        "databases, web servers and schedulers taken down, before encrypting their data or "
        "to deny service."
    )
    severity = "medium"
    category = "impact"
    techniques = ("T1489",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands("systemctl", "service", "rc-service", "sv", "invoke-rc.d"):
            args = run.item.args
            if STOPPING & set(args) and not {"--dry-run"} & set(args) and len(args) >= 2:
                if not ctx.installing(run.process):
                    yield run.evidence(command_summary(run))
        for run in ctx.commands():
            if run.item.program.startswith("/etc/init.d/") and run.item.args[:1] == ("stop",):
                yield run.evidence(command_summary(run))
        for run in ctx.commands(*KILLERS):
            names = {a for a in run.item.args if not a.startswith("-")}
            if names & DAEMONS:
                yield run.evidence(command_summary(run))
        for run in ctx.shell_commands("kill"):
            match = next((PGREP_IN_KILL.search(a) for a in run.item.args if "$(" in a), None)
            if match is not None and match.group(2) in DAEMONS:
                yield run.evidence(command_summary(run))
