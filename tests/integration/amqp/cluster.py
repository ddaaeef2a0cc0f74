"""A three-node RabbitMQ cluster of a test's own, made of :class:`PrivateNode` s.

The issue asks for nodes named ``hsN@localhost``; each gets ``hsN-<pid>@localhost`` (the
``PrivateNode`` rule) so two test runs on one machine do not take each other's names. Every
node has its own AMQP and distribution ports, ``rabbitmq.conf`` (with its own
``listeners.tcp.1``), data and log directories owned by the ``rabbitmq`` user; all share the
machine's Erlang cookie (see ``private_node.py``). They start side by side, then the second
and third are joined to the first with ``rabbitmqctl join_cluster``. Every ``rabbitmqctl``
call names one of these nodes (``-n``): the machine's own broker is never touched::

    with RabbitCluster() as cluster:
        url = cluster.amqp_url           # the three addresses, comma-separated
        leader = cluster.leader_of("prefix.time_entries")
        leader.kill()                    # kill -9
        cluster.rejoin(leader)           # the same node again, with its data
        cluster.members_of("prefix.time_entries", leader)  # ({members}, {online})

Quorum queues declared once the cluster has formed get a member on every node (without
``x-quorum-initial-group-size``, RabbitMQ 3.10 places one on each cluster node; the chaos test
checks it with ``list_queues name leader members online``).
On exit every node is stopped, killed if need be, and its directory removed.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from private_node import PrivateNode, PrivateNodeError


class RabbitCluster:
    """``size`` private nodes joined into one cluster; see the module docstring."""

    def __init__(self, stem: str = "hs", size: int = 3, *, start_timeout: float = 90.0) -> None:
        self.nodes = [PrivateNode(f"{stem}{i}", start_timeout=start_timeout) for i in range(1, size + 1)]

    @property
    def amqp_url(self) -> str:
        """Every node's address, in node order, as a comma-separated ``AMQP_URL``."""
        return self.url_from(self.nodes[0])

    def url_from(self, first: PrivateNode) -> str:
        """Every node's address, starting at ``first`` and then in node order after it."""
        i = self.nodes.index(first)
        return ",".join(n.amqp_url for n in (*self.nodes[i:], *self.nodes[:i]))

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start every node side by side; join each of the others to the first once both run."""
        for node in self.nodes:
            node.launch()
        seed, others = self.nodes[0], self.nodes[1:]
        one_join_at_a_time = threading.Lock()  # as an operator runs them; concurrent joins are another test

        def join(node: PrivateNode, seed_running: Future) -> None:
            node.wait_until_running()
            node.ctl("stop_app")
            seed_running.result()
            with one_join_at_a_time:
                node.ctl("join_cluster", seed.node)
            node.ctl("start_app")

        with ThreadPoolExecutor(len(self.nodes)) as pool:
            seed_running = pool.submit(seed.wait_until_running)
            for joined in [seed_running, *(pool.submit(join, node, seed_running) for node in others)]:
                joined.result()
        self.wait_for(
            lambda: self.running_nodes(seed) == self.names(), 60, "every node running in the cluster"
        )

    def rejoin(self, node: PrivateNode, timeout: float = 90.0) -> None:
        """Start a killed node again and wait until the cluster counts it as running."""
        node.relaunch()
        node.wait_until_running()
        self.wait_for(
            lambda: self.running_nodes(node) == self.names(), timeout, f"{node.node} back in the cluster"
        )

    def stop(self) -> None:
        """Stop and remove every node, side by side (each stop takes seconds)."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            for stopped in [pool.submit(node.stop) for node in self.nodes]:
                stopped.result()

    def __enter__(self) -> RabbitCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what the cluster says ----------------------------------------------------------

    def names(self) -> set[str]:
        return {n.node for n in self.nodes}

    def node_named(self, name: str) -> PrivateNode:
        return next(n for n in self.nodes if n.node == name)

    def node_on_port(self, port: int) -> PrivateNode:
        return next(n for n in self.nodes if n.amqp_port == port)

    def running_nodes(self, asked: PrivateNode) -> set[str]:
        """The nodes ``asked`` sees running in its cluster (empty if it cannot say)."""
        try:
            status = json.loads(asked.ctl("cluster_status", "--formatter", "json", timeout=30))
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError):
            return set()
        return set(status.get("running_nodes", []))

    def queues(self, asked: PrivateNode) -> dict[str, dict]:
        """Every queue ``asked`` knows: name -> {leader, members, online} (quorum queues)."""
        out = asked.ctl(
            "list_queues", "name", "leader", "members", "online", "--formatter", "json", timeout=30
        )
        return {q["name"]: q for q in json.loads(out)}

    def leader_of(self, queue: str, asked: PrivateNode | None = None) -> PrivateNode:
        """The node that leads quorum queue ``queue``."""
        return self.node_named(self.queues(asked or self.nodes[0])[queue]["leader"])

    def members_of(self, queue: str, asked: PrivateNode) -> tuple[set[str], set[str]]:
        """The nodes with a member of ``queue``, and those of them online."""
        q = self.queues(asked)[queue]
        return set(q["members"]), set(q["online"])

    def connections(self, asked: PrivateNode) -> list[tuple[PrivateNode, str]]:
        """Every client connection in the cluster: (the node it is on, its connection name)."""
        out = asked.ctl("list_connections", "port", "client_properties", "--formatter", "json", timeout=30)
        return [
            (self.node_on_port(int(c["port"])), _connection_name(c["client_properties"]))
            for c in json.loads(out)
        ]

    @staticmethod
    def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise PrivateNodeError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.5)


def _connection_name(client_properties: object) -> str:
    """``connection_name`` out of rabbitmqctl's JSON for client properties.

    The JSON formatter renders the AMQP table as a list of ``[key, type, value]`` triples.
    """
    if isinstance(client_properties, dict):
        return str(client_properties.get("connection_name", ""))
    for item in client_properties or ():
        if isinstance(item, list) and len(item) == 3 and item[0] == "connection_name":
            return str(item[2])
    return ""
