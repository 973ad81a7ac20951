"""rego-cpp shares one C++ allocator with the process, whatever C++ library was loaded first.

The served node imports SQLAlchemy's greenlet, a C++ extension that loads libstdc++, before the
policy engine. Without `_native` sharing libstdc++'s `operator new`/`operator delete`, every
decision then kept about half a megabyte (measured: 587 KB per decision on the shipped policies
and vectors, 0.2 KB with the fix). Each check runs in a fresh interpreter, because which allocator
rego-cpp binds to is decided once per process, when its library is loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
WARM_UP_DECISIONS = 30
MEASURED_DECISIONS = 150
# The leak kept ~587 KB per decision; a healthy engine stays near zero. The bound sits far from
# both, so page-granular RSS noise cannot flip the result.
MAX_GROWTH_KB_PER_DECISION = 50

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the C++ runtime binding is Linux-specific"
)

# How the child process gets libstdc++ loaded privately (RTLD_LOCAL) before regopy.
LOAD_LIBSTDCXX_FIRST = {
    "greenlet": "import greenlet",
    "private ctypes load": "import ctypes; ctypes.CDLL('libstdc++.so.6')",
}

MEASURE = """
import asyncio, json

from saferefer_server._resources import policy_dir
from saferefer_server.policy import build_engine, load_vectors


def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


async def main():
    engine = build_engine(kind="embedded", policy_dir=policy_dir(), timeout_s=30, max_workers=1)
    inputs = [vector.input for vector in load_vectors(policy_dir())]
    failures = 0
    try:
        for n in range({warm_up}):
            failures += (await engine.decide(inputs[n % len(inputs)])).engine_failure
        before = rss_kb()
        for n in range({measured}):
            failures += (await engine.decide(inputs[n % len(inputs)])).engine_failure
        after = rss_kb()
    finally:
        await engine.aclose()
    print(json.dumps({{"growth_kb": after - before, "failures": failures}}))


asyncio.run(main())
"""


def _run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("load_first", sorted(LOAD_LIBSTDCXX_FIRST))
def test_decide_keeps_memory_flat_when_libstdcxx_was_loaded_before_regopy(
    load_first: str,
) -> None:
    code = (
        LOAD_LIBSTDCXX_FIRST[load_first]
        + "\n"
        + MEASURE.format(warm_up=WARM_UP_DECISIONS, measured=MEASURED_DECISIONS)
    )

    child = _run_child(code)

    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["failures"] == 0
    assert result["growth_kb"] < MAX_GROWTH_KB_PER_DECISION * MEASURED_DECISIONS, result


def test_import_warns_when_regopy_was_loaded_before_policy_package() -> None:
    child = _run_child("import regopy\nimport saferefer_server.policy")

    assert child.returncode == 0, child.stderr[-2000:]
    assert "regopy was imported before saferefer_server.policy" in child.stderr


def test_import_stays_quiet_when_policy_package_loads_regopy() -> None:
    child = _run_child("import greenlet\nimport saferefer_server.policy\nimport regopy")

    assert child.returncode == 0, child.stderr[-2000:]
    assert "regopy was imported before" not in child.stderr
