"""The TLS side: a CA and server certificate made once per install, and the server context.

Certificates are made with the ``openssl`` command line tool so no crypto library is
needed. The CA is kept across runs so it can be installed into guest images; the server
certificate is signed by it and served with the chain. SNI from the ClientHello is
attached to the connection being handshaked (see ``conn.CURRENT_CONN``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from aasee.hooks.fakenet.conn import CURRENT_CONN


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    server_chain: Path
    """Server certificate followed by the CA certificate (PEM)."""
    server_key: Path


def tls_files(cert_dir: Path) -> TlsFiles:
    return TlsFiles(
        ca_cert=cert_dir / "ca.pem",
        ca_key=cert_dir / "ca.key",
        server_chain=cert_dir / "server.pem",
        server_key=cert_dir / "server.key",
    )


def _openssl(*args: str) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        raise RuntimeError("the 'openssl' command is needed to create the fake TLS certificates")
    result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()[:2000]}")


def _loads(cert: Path, key: Path) -> bool:
    if not (cert.is_file() and key.is_file()):
        return False
    try:
        ssl.create_default_context().load_cert_chain(cert, key)
    except (ssl.SSLError, OSError):
        return False
    return True


def ensure_certificates(cert_dir: Path, ca_name: str, common_name: str) -> TlsFiles:
    """Reuse the certificates in ``cert_dir`` if they load, else create what is missing."""
    files = tls_files(cert_dir)
    cert_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    have_ca = _loads(files.ca_cert, files.ca_key)
    if have_ca and _loads(files.server_chain, files.server_key):
        return files
    # build in a scratch directory and move into place, so a crash never leaves half a set
    with tempfile.TemporaryDirectory(dir=cert_dir, prefix=".new-") as scratch:
        work = Path(scratch)
        ca_cert, ca_key = work / "ca.pem", work / "ca.key"
        if have_ca:
            shutil.copyfile(files.ca_cert, ca_cert)
            shutil.copyfile(files.ca_key, ca_key)
        else:
            _openssl(
                "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
                "-days", "3650", "-subj", f"/CN={ca_name}",
                "-keyout", str(ca_key), "-out", str(ca_cert),
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            )  # fmt: skip
        extensions = work / "server.ext"
        extensions.write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            f"subjectAltName=DNS:{common_name},DNS:*\n"
        )
        csr, key, cert = work / "server.csr", work / "server.key", work / "server.crt"
        _openssl(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(csr),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", "825", "-sha256",
            "-extfile", str(extensions), "-out", str(cert),
        )  # fmt: skip
        chain = work / "server.pem"
        chain.write_bytes(cert.read_bytes() + ca_cert.read_bytes())
        for path in (ca_key, key):
            path.chmod(0o600)
        if not have_ca:
            os.replace(ca_key, files.ca_key)
            os.replace(ca_cert, files.ca_cert)
        os.replace(key, files.server_key)
        os.replace(chain, files.server_chain)
    return files


def _remember_sni(
    _sslobj: ssl.SSLObject | ssl.SSLSocket, name: str | None, _context: ssl.SSLContext
) -> None:
    info = CURRENT_CONN.get()
    if info is not None and name:
        info.sni = name[:255]


def server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.server_chain, files.server_key)
    try:
        # malware ships old TLS stacks; a fake server that refuses them records nothing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ssl.SSLError, ValueError):
        pass
    context.set_alpn_protocols(["http/1.1"])
    context.sni_callback = _remember_sni
    return context
