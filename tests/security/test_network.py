"""Which hosts count as this machine's own: `serve` warns about the others, and AWS calls
carrying the server's credentials go to no other emulator."""

from __future__ import annotations

import pytest

from forecaster.security.network import loopback


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "::1", "[::1]", "0:0:0:0:0:0:0:1"]
)
def test_loopback_hosts_in_any_spelling(host: str) -> None:
    assert loopback(host)


@pytest.mark.parametrize(
    "host", ["", "0.0.0.0", "::", "10.0.0.1", "localhost.example.com", "127.0.0.1.nip.io"]
)
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not loopback(host)
