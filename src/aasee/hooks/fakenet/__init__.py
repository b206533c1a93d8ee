"""An INetSim-like fake internet for the analysis network: DNS, HTTP(S), SMTP, FTP, IRC
and catch-all TCP/UDP services that answer convincingly and record everything as JSONL.

The guest's traffic reaches these services through DNAT rules set up elsewhere; this
package only listens on the addresses it is given.
"""

from aasee.hooks.fakenet.config import FakeNetConfig, FakeNetLimits, HttpResponse
from aasee.hooks.fakenet.server import FakeInternet
from aasee.hooks.fakenet.tls import TlsFiles, ensure_certificates

__all__ = [
    "FakeInternet",
    "FakeNetConfig",
    "FakeNetLimits",
    "HttpResponse",
    "TlsFiles",
    "ensure_certificates",
]
