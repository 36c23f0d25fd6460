"""Running Python inside a named network namespace, in-process: a thread that entered the
namespace (through overlayc's one namespace handle, `overlayc.netlink.netns.Namespace`) runs a
function there (a socket belongs to the namespace of the thread that
made it), so no interpreter has to start for a ping or a request (the ESP lab runs user space
10-30x slower). The thread ends with the function; the rest of the process is not moved.

    answered = in_netns("ocl3f2a-node1", probe.ping, "192.0.2.2", 1, 2.0)["received"]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from overlayc.netlink.netns import Namespace

T = TypeVar("T")


class InNetns:
    """`fn(*args)` running in a thread that entered network namespace `ns`, started at once.
    `result()` waits (bounded) and returns its value or raises its exception."""

    def __init__(self, ns: str, fn: Callable[..., Any], *args: Any) -> None:
        self.ns = ns
        self._box: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(fn, args), daemon=True, name=f"in-{ns}")
        self.thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            with Namespace(self.ns) as handle, handle.entered():
                self._box["value"] = fn(*args)
        except BaseException as err:  # handed to result()
            self._box["error"] = err

    def result(self, timeout: float = 120) -> Any:
        """The function's value (or its exception, raised here); AssertionError after `timeout` s."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"{self.ns}: still running after {timeout} s"
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]


def in_netns(ns: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` inside namespace `ns` and return its value."""
    value: T = InNetns(ns, fn, *args).result()
    return value
