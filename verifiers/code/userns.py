"""Can this process build the sandbox without root? A probe of unprivileged user namespaces.

Without root the fork server enters a new user namespace (its uid mapped to 0 there) together
with the PID, network, mount, IPC, UTS and cgroup namespaces (see `namespaces`). Whether the
kernel allows that is probed once, in a throwaway process, before any worker starts, so that
the verifier can refuse with one line instead of running candidates unisolated.
"""

from __future__ import annotations

import subprocess
import sys

# unshare everything at once, map the uid, mount a tmpfs: what the fork server will do
_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
flags = 0x10000000 | 0x20000000 | 0x40000000 | 0x00020000 | 0x08000000 | 0x04000000 | 0x02000000
uid, gid = os.getuid(), os.getgid()
if libc.unshare(flags) != 0:
    sys.exit('unshare: ' + os.strerror(ctypes.get_errno()))
try:
    for path, text in (('/proc/self/setgroups', 'deny'), ('/proc/self/uid_map', f'0 {uid} 1'),
                       ('/proc/self/gid_map', f'0 {gid} 1')):
        with open(path, 'w') as fh:
            fh.write(text)
except OSError as exc:
    sys.exit(f'user namespace map: {exc.strerror}')
if libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None) != 0:
    sys.exit('mount in the new namespace: ' + os.strerror(ctypes.get_errno()))
"""


def unprivileged_sandbox_problem() -> str | None:
    """None when an unprivileged user namespace with every namespace the sandbox needs can be
    made here; else what failed, in a few words."""
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _PROBE], capture_output=True,
                              text=True, timeout=30, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the probe did not run: {exc}"
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"the probe exited with status {done.returncode}"
