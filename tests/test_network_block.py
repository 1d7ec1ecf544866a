"""Security regression: the suite must refuse any connection that leaves the machine."""

import socket

import pytest


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_outbound_connection_is_blocked():
    with pytest.raises(Exception) as excinfo:
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    assert "192.0.2.1" in str(excinfo.value) or "blocked" in str(excinfo.value).lower()


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port), timeout=1)
    client.close()
    server.close()
