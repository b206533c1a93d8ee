"""Cloud instance metadata queried: the link-local metadata service that hands out the
instance's credentials."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

METADATA_IPS = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2"})
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data",
                            "metadata.azure.internal", "metadata.tencentyun.com"})  # fmt: skip
FETCHERS = ("curl", "wget", "http", "python3", "python")


class CloudMetadata(Signature):
    id = "credential_cloud_metadata"
    name = "Queries the cloud instance metadata service"
    description = (
        "Connects to 169.254.169.254 (AWS, Azure, GCP, OpenStack), 100.100.100.200 "
        "(Alibaba) or the ECS task endpoint, looks up metadata.google.internal, or points "
        "curl/wget at them: the instance's role credentials and user data, which grant "
        "access to the cloud account."
    )
    severity = "high"
    category = "credential-access"
    techniques = ("T1552.005",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for found in ctx.endpoints():
            if found.item.ip in METADATA_IPS:
                yield found.evidence(f"connected to {found.item.ip} port {found.item.port}")
        for name in ctx.dns_names:
            if name.item in METADATA_NAMES:
                yield name.evidence(f"looked up {name.item}")
        for run in ctx.commands(*FETCHERS):
            if any(ip in arg for arg in run.item.args for ip in METADATA_IPS):
                yield run.evidence(command_summary(run))
