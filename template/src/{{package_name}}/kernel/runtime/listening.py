# Owned by the monocell template: `copier update` replaces this file.
"""Whether a process can listen on an address, found before anything starts.

`serve` checks its host and port before uvicorn starts (which would fail only
after the sandbox pools and the app had started, with a logged traceback); a
worker's health endpoint binds its socket before the worker connects to NATS.
Either way a bad address is one line that blames the option at fault.
"""

import errno
import socket


def listen_problem(host: str, port: int, host_origin: str, port_origin: str) -> str | None:
    """Why uvicorn could not listen on host:port, found before anything starts.

    uvicorn would fail only after the sandbox pools and the app have started, with
    a logged traceback. Each address `host` resolves to is bound once and released.
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        return f"{host_origin}: cannot resolve {host!r} ({error}); expected an address or name"
    for family, kind, protocol, _, address in addresses:
        try:
            with socket.socket(family, kind, protocol) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as error:
            # An address this machine does not have is the host's fault; in use or
            # privileged, the port's.
            blamed = host_origin if error.errno == errno.EADDRNOTAVAIL else port_origin
            return f"{blamed}: cannot listen on {host}:{port} ({error.strerror})"
    return None


def bound_socket(host: str, port: int, host_origin: str, port_origin: str) -> socket.socket:
    """A socket listening on host:port; `OSError` whose text is one line if it cannot be."""
    problem = listen_problem(host, port, host_origin, port_origin)
    if problem is not None:
        raise OSError(problem)
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart within TIME_WAIT
        sock.bind(address)
        sock.listen()
    except OSError as error:  # taken since the check
        sock.close()
        raise OSError(f"{port_origin}: cannot listen on {host}:{port} ({error.strerror})") from None
    return sock
