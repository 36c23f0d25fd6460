"""IPsec part of compile (DESIGN.md §4). Placeholder for the interface; implemented in issue 4.

compile_ipsec(config, node, peers, at, private_key) -> list[XfrmState | XfrmPolicy]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from overlayc.config.model import Config
from overlayc.kernel.objects import XfrmPolicy, XfrmState


def compile_ipsec(
    config: Config, node: str, peers: Sequence[str], at: datetime, private_key: bytes | None
) -> list[XfrmState | XfrmPolicy]:
    """Desired SAs and policies on `node` at time `at` for every peer sharing an encrypted network."""
    raise NotImplementedError("IPsec compile is not implemented yet")
