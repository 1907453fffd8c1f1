"""Which hosts only this machine reaches: where serving without authentication, or sending the
server's cloud credentials to an emulator, stays on the machine."""

from __future__ import annotations

import ipaddress


def loopback(host: str) -> bool:
    """Whether only this machine reaches ``host``: localhost, or any loopback address
    (127.0.0.2 and 0:0:0:0:0:0:0:1 are, though not spelt as the usual two), in any case and
    with or without an IPv6 address's brackets."""
    host = host.lower().removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return False
