"""Does a certificate serve a host name? Answered by a real TLS handshake, in memory."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path


def serves(cert_file: Path, key_file: Path, ca_file: Path, hostname: str) -> bool:
    """True when a client that trusts only `ca_file` accepts this pair for `hostname`.

    Python's ssl module does the chain and host-name checks (strict X.509 rules included),
    exactly as a client connecting to that name would.
    """
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(cert_file), str(key_file))
    client = ssl.create_default_context(cafile=str(ca_file))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    try:
        for _ in range(10):
            for side in (client_side, server_side):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        client_side.do_handshake()
    except ssl.SSLCertVerificationError:
        return False
    return True
