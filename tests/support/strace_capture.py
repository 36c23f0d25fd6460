"""Capture the netlink request iproute2 sends, with strace, as (type, flags, body) fixtures.

Used to regenerate tests/data/xfrm-*.json (`python -m tests.support.strace_capture`, as root) and by the
kernel test that checks the fixtures are still what this host's iproute2 sends.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from tests.support.host import DATA

_HDR = re.compile(
    r"nlmsg_len=(\d+), nlmsg_type=(\w+), nlmsg_flags=([\w|]+), nlmsg_seq=\d+, nlmsg_pid=\d+\}, "
    r"\"((?:\\x[0-9a-f]{2})*)\""
)
_TYPES = {"XFRM_MSG_NEWSA": 0x10, "XFRM_MSG_NEWPOLICY": 0x13, "XFRM_MSG_DELSA": 0x11,
          "XFRM_MSG_DELPOLICY": 0x14, "XFRM_MSG_UPDPOLICY": 0x19, "XFRM_MSG_UPDSA": 0x1A}
_FLAGS = {"NLM_F_REQUEST": 1, "NLM_F_ACK": 4, "NLM_F_EXCL": 0x200, "NLM_F_CREATE": 0x400,
          "NLM_F_REPLACE": 0x100}

CASES: dict[str, list[str]] = {
    "xfrm-sa-esn": ["ip", "xfrm", "state", "add", "src", "10.0.0.1", "dst", "10.0.0.2", "proto", "esp",
                    "spi", "0x1001", "reqid", "0x6f7663", "mode", "transport", "replay-window", "128",
                    "flag", "esn", "aead", "rfc4106(gcm(aes))",
                    "0x0102030405060708090a0b0c0d0e0f1011121314", "128"],
    "xfrm-policy-out": ["ip", "xfrm", "policy", "add", "src", "10.0.0.1/32", "dst", "10.0.0.2/32",
                        "proto", "udp", "dport", "4790", "dir", "out", "priority", "0x6f00", "tmpl",
                        "src", "10.0.0.1", "dst", "10.0.0.2", "proto", "esp", "reqid", "0x6f7663",
                        "mode", "transport"],
    "xfrm-policy-block-in": ["ip", "xfrm", "policy", "add", "src", "0.0.0.0/0", "dst", "0.0.0.0/0",
                             "proto", "udp", "dport", "4790", "dir", "in", "priority", "0x6f10",
                             "action", "block"],
    "xfrm-policy-del": ["ip", "xfrm", "policy", "delete", "src", "10.0.0.1/32", "dst", "10.0.0.2/32",
                        "proto", "udp", "dport", "4790", "dir", "out"],
    "xfrm-sa-del": ["ip", "xfrm", "state", "delete", "src", "10.0.0.1", "dst", "10.0.0.2", "proto", "esp",
                    "spi", "0x1001"],
}


def capture(netns: str, argv: list[str]) -> dict[str, Any]:
    """Run `argv` in `netns` under strace; the first netlink request it sends, decoded."""
    res = subprocess.run(
        ["ip", "netns", "exec", netns, "strace", "-f", "-e", "trace=sendmsg", "-xx", "-s", "8192", *argv],
        capture_output=True, text=True, check=False,
    )
    for m in _HDR.finditer(res.stderr):
        flags = sum(_FLAGS[f] for f in m.group(3).split("|"))
        body = bytes.fromhex(m.group(4).replace("\\x", ""))
        if m.group(2) in _TYPES:
            return {"argv": argv, "type": _TYPES[m.group(2)], "flags": flags, "body": body.hex()}
    raise RuntimeError(f"no XFRM request in strace output of {argv}: {res.stderr[-500:]}")


def main(netns: str) -> None:
    for name, argv in CASES.items():
        (DATA / f"{name}.json").write_text(json.dumps(capture(netns, argv), indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
