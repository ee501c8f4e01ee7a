"""Bounded checks of a Ray cluster's address before ``ray.init``, which retries for minutes.

``ray.init(address=...)`` waits a long time for a GCS that is not there, for a port that answers
but speaks something else (it was still dialing after 600 s), and for nodes the driver cannot reach.
Each check here gives up in seconds with one line:

1. something listens at ``HOST:PORT`` (a TCP connection);
2. it speaks gRPC, as a Ray head's GCS does: the HTTP/2 connection preface is answered with a
   SETTINGS frame (an HTTP/1 server, SSH or a database answers otherwise or not at all);
3. the cluster's alive nodes (their raylet ``address:port``, as the GCS lists them) accept a TCP
   connection from here (the driver talks to them directly).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from clinpred.core.errors import RunError, UserError

#: the HTTP/2 client connection preface and an empty SETTINGS frame (RFC 9113, section 3.4)
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS = 0x4


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``ray://HOST:PORT``) -> (host, port), else one :class:`UserError` line."""
    bare = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = bare.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address {address!r} is not auto, HOST:PORT or ray://HOST:PORT "
                        "(e.g. 10.0.0.5:6379, the head node's `ray start --head --port`)")
    return host.strip("[]"), int(port)


def _reason(exc: OSError) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()


def check_listening(address: str, host: str, port: int, timeout: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise RunError(f"cannot reach the Ray cluster at {address!r} ({_reason(exc)}); start its head node "
                       f"(`ray start --head --port={port}`) or check --address and the firewall") from None


def speaks_grpc(host: str, port: int, timeout: float) -> str | None:
    """None when ``host:port`` answers the HTTP/2 preface with SETTINGS (gRPC), else what it did."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(_PREFACE)
            head = b""
            while len(head) < 9:
                chunk = conn.recv(9 - len(head))
                if not chunk:
                    return "it closed the connection"
                head += chunk
    except TimeoutError:
        return f"no reply within {timeout:g} s"
    except OSError as exc:
        return _reason(exc)
    if head[3] != _SETTINGS:
        return "it answered in another protocol" + (" (HTTP)" if head.startswith(b"HTTP/") or head.startswith(b"<") else "")
    return None


def _alive_nodes(address: str, timeout: float) -> list[tuple[str, int]] | Exception | None:
    """(address, port) of each alive node's raylet, asked from the GCS in a daemon thread that is
    abandoned after ``timeout`` seconds (None: no answer in time; an exception: the GCS client
    failed, e.g. on authentication, which ``ray.init`` then reports in its own words)."""
    found: dict[str, Any] = {}

    def ask() -> None:
        try:
            from ray._raylet import GcsClient
            from ray.core.generated.gcs_pb2 import GcsNodeInfo

            client = GcsClient(address=address.split("://", 1)[-1])
            nodes = client.get_all_node_info(timeout=timeout).values()
            found["nodes"] = [(n.node_manager_address, int(n.node_manager_port)) for n in nodes
                              if n.state == GcsNodeInfo.GcsNodeState.ALIVE]
        except Exception as exc:  # noqa: BLE001 - a probe: ray.init reports the real error
            found["error"] = exc

    thread = threading.Thread(target=ask, name="clinpred-ray-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return found.get("nodes", found.get("error"))


def check_nodes(address: str, timeout: float) -> None:
    nodes = _alive_nodes(address, timeout)
    if isinstance(nodes, Exception):
        return
    if nodes is None:
        raise RunError(f"the Ray cluster at {address!r} answers but its GCS did not list its nodes within {timeout:g} s; "
                       "check `ray status` on the head node")
    if not nodes:
        raise RunError(f"the Ray cluster at {address!r} has no alive node; check `ray status` on the head node")
    unreachable = []
    for host, port in nodes:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return  # the driver reaches at least one node (Ray's own errors cover the rest)
        except OSError as exc:
            unreachable.append(f"{host}:{port} ({_reason(exc)})")
    raise RunError(f"the Ray cluster at {address!r} lists nodes this machine cannot reach: {', '.join(unreachable[:3])}; "
                   "start the nodes with a --node-ip-address reachable from here, or run clinpred on a node of the cluster")


def probe(address: str, *, timeout: float = 10.0) -> None:
    """Every check, each bounded by ``timeout`` seconds; one :class:`RunError` line when one fails."""
    host, port = split_address(address)
    check_listening(address, host, port, timeout)
    problem = speaks_grpc(host, port, timeout)
    if problem is not None:
        raise RunError(f"something answers at {address!r} but it is not a Ray cluster's head ({problem}); check "
                       "--address: the port of the head node's `ray start --head --port`, 6379 by default")
    check_nodes(address, timeout)


__all__ = ["check_listening", "probe", "speaks_grpc", "split_address"]
