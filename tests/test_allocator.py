"""snapcli/allocator.py: the `snap` entry point keeps large freed blocks in the heap (glibc mallopt)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from snapcli.allocator import skip_reason

glibc_only = pytest.mark.skipif(skip_reason({}) == "not glibc", reason="glibc's malloc only")

# run in a fresh interpreter: allocate 64 MiB, report how much of it glibc mmapped, free it, report what the heap kept
PROBE = r"""
import atexit, ctypes, json, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def probe():
    before = libc.mallinfo2().hblkhd
    p = libc.malloc(64 << 20)
    mapped = libc.mallinfo2().hblkhd - before
    libc.free(p)
    sys.stdout.write(json.dumps({"mmapped_while_held": mapped, "free_in_heap_after": libc.mallinfo2().fordblks}))
    sys.stdout.flush()
atexit.register(probe)
sys.argv = ["snap", "--version"]
from snapcli.__main__ import entry
entry()
"""


def run_probe(**env: str) -> dict:
    full = {k: v for k, v in os.environ.items() if k != "SNAP_MALLOC"} | env
    out = subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, check=True).stdout
    return json.loads(out[out.index("{"):])


@glibc_only
def test_snap_entry_keeps_large_freed_blocks_in_the_heap():
    tuned = run_probe()
    assert tuned["mmapped_while_held"] == 0  # served from the heap, not a fresh mmap
    assert tuned["free_in_heap_after"] >= 64 << 20  # and still there, free, for the next step to reuse
    plain = run_probe(SNAP_MALLOC="system")
    assert plain["mmapped_while_held"] >= 64 << 20  # glibc's default: its own mmap, unmapped on free
    assert plain["free_in_heap_after"] < 64 << 20


@pytest.mark.parametrize(("env", "reason"), [
    ({"SNAP_MALLOC": "system"}, "SNAP_MALLOC=system"),
    ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "malloc already tuned by the environment"),
    ({"MALLOC_ARENA_MAX_": "2"}, "malloc already tuned by the environment"),
    ({"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}, "another allocator is preloaded"),
])
@glibc_only
def test_the_environment_s_own_allocator_settings_win(env, reason):
    assert skip_reason(env) == reason
    assert skip_reason({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX"}) is None  # other tunables are not malloc's
