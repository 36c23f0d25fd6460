"""The overlayc command runs its models without pydantic plugins, and without the import that
looks for them (`overlayc.launch` calls `skip_plugin_scan` first; a program that imports overlayc's
modules keeps pydantic as it has it).

Pydantic asks for plugins when it builds the first model class: `pydantic.plugin._loader` imports
`importlib.metadata` (with `email`, `zipfile`, `tempfile`, `csv`, ...) and scans every installed
distribution's entry points: 69 M of the 709 M instructions of importing the configuration models
(valgrind), ~8 % of the command line's start-up, for plugins overlayc never uses.
`PYDANTIC_DISABLE_PLUGINS` (pydantic's documented switch) skips the scan but not the import, so
while that switch is unset (or says all plugins are off) overlayc puts in the loader's place a
module whose `get_plugins()` returns no plugins: what the switch does, without the import. A user
who wants their plugins sets `PYDANTIC_DISABLE_PLUGINS` to an empty string (or to the names to
leave out), and pydantic's own loader then runs as usual.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from types import ModuleType

LOADER = "pydantic.plugin._loader"  # the module pydantic imports when it builds a schema validator
_ALL_OFF = (None, "__all__", "1", "true")  # unset, or pydantic's own spellings of "every plugin off"


def _no_plugins(*_args: object, **_kwargs: object) -> Iterable[object]:
    return ()


def skip_plugin_scan() -> bool:
    """Stand in for pydantic's plugin loader unless it is imported already or the user set
    `PYDANTIC_DISABLE_PLUGINS` to keep some plugins. Whether the stand-in is in place."""
    if LOADER in sys.modules:
        return getattr(sys.modules[LOADER], "get_plugins", None) is _no_plugins
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in _ALL_OFF:
        return False
    stub = ModuleType(LOADER, "overlayc: no pydantic plugins (overlayc.config.noplugins)")
    stub.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[LOADER] = stub
    return True
