"""regopy, loaded so that rego-cpp and the rest of the process share one C++ allocator.

regopy's `librego_shared.so` brings its own C++ `operator new`/`operator delete` (snmalloc) and
links the system `libstdc++.so.6`. Which `operator new` libstdc++'s own code calls is fixed once,
when libstdc++ is loaded:

* libstdc++ loaded as rego-cpp's dependency: it binds to rego-cpp's snmalloc as well;
* libstdc++ already loaded by a C++ extension imported earlier (on the served node SQLAlchemy's
  greenlet, imported with the database layer): Python loads extensions privately (RTLD_LOCAL),
  so libstdc++ keeps glibc's malloc while rego-cpp's own code keeps snmalloc. Blocks that
  libstdc++ takes from glibc for rego-cpp are released through rego-cpp's `operator delete` and
  never reach glibc again: the served node's glibc heap kept about 450 KB per decision on
  SafeRefer's policies (0.1 KB in a process where libstdc++ came with rego-cpp).

Importing regopy through this module first puts libstdc++ into the process's global symbol scope
(loading it, or promoting the copy already loaded). rego-cpp's references to `operator new` and
`operator delete` then bind to libstdc++'s, as those of every other C++ library in the process
do, whatever was imported before. That has to happen before regopy loads `librego_shared.so`;
when regopy was imported earlier, a warning says the guarantee is lost.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

# The C++ runtime librego_shared.so links (regopy 1.5.2's Linux wheels, DT_NEEDED).
LIBSTDCXX = "libstdc++.so.6"
_REGOPY_NATIVE_MODULE = "regopy.rego_shared"  # importing it loads librego_shared.so

log = logging.getLogger(__name__)


def share_cpp_runtime() -> bool:
    """Put libstdc++ in the global symbol scope, so C++ libraries loaded later bind to its
    `operator new`/`operator delete`. False where there is no libstdc++ to share (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    ctypes.CDLL(LIBSTDCXX, mode=os.RTLD_GLOBAL | os.RTLD_NOW)
    return True


def _warn_if_loaded_too_late(regopy_was_loaded: bool) -> None:
    """Say so when rego-cpp's allocator was bound before `share_cpp_runtime` could run."""
    if regopy_was_loaded:
        log.warning(
            "regopy was imported before saferefer_server.policy: if a C++ extension had loaded "
            "libstdc++ before it, every embedded policy decision leaks memory; import "
            "saferefer_server.policy first"
        )


_regopy_was_loaded = _REGOPY_NATIVE_MODULE in sys.modules
share_cpp_runtime()
_warn_if_loaded_too_late(_regopy_was_loaded)

import regopy  # noqa: E402 - only after share_cpp_runtime(), see the module docstring
from regopy import rego_shared  # noqa: E402

__all__ = ["LIBSTDCXX", "rego_shared", "regopy", "share_cpp_runtime"]
