"""Port steering between two processes listening on one port (SO_REUSEPORT), as in a version update's hand-over."""

import socket
import subprocess
import sys
import time

import pytest

from moorage.infra import port_steering

SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[2].encode())
    c.close()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def who_answers(port: int, times: int) -> list[str]:
    answers = []
    for _ in range(times):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            answers.append(sock.recv(1).decode())
    return answers


@pytest.fixture
def two_servers():
    port = free_port()
    servers = []
    for name in ("A", "B"):  # A first: the old one, index 0 of the group
        process = subprocess.Popen([sys.executable, "-c", SERVER, str(port), name], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "listening"
        servers.append(process)
    yield port, servers
    for process in servers:
        process.kill()
        process.wait()


def test_new_only_sends_every_connection_to_the_second_listener_and_share_undoes_it(two_servers):
    port, (old, new) = two_servers
    assert set(who_answers(port, 40)) == {"A", "B"}  # the kernel's hash shares the port
    assert port_steering.steer(old.pid, port, port_steering.NEW_ONLY)
    assert set(who_answers(port, 40)) == {"B"}
    assert port_steering.steer(old.pid, port, port_steering.SHARE)
    assert set(who_answers(port, 40)) == {"A", "B"}


def test_once_the_old_listener_is_gone_the_program_falls_back_to_the_remaining_one(two_servers):
    port, (old, new) = two_servers
    assert port_steering.steer(old.pid, port, port_steering.NEW_ONLY)
    old.kill()
    old.wait()
    time.sleep(0.1)
    assert set(who_answers(port, 10)) == {"B"}


def test_no_listener_means_no_steering():
    assert port_steering.steer(1, free_port(), port_steering.NEW_ONLY) is False
