"""What a reap removes besides the child: every process of the execution's uid, and (without a
mount namespace) what the uid left on the host's disk.

Runs inside the fork server, as root of the sandbox's namespaces; loaded there from the compiled
code the judge sends (`forkserver.SERVER_MODULES`), so it imports nothing from rlfb.
"""

from __future__ import annotations

import os
import signal
from typing import Any


def remove_host_leftovers(cfg: dict[str, Any], uid: int, pid: int | None) -> bool:
    """Without a mount namespace: remove an execution's host working directory (all of this
    uid's when ``pid`` is None) and whatever the uid created at the top of the world-writable
    temp dirs. True when all of it is gone."""
    prefix = f"{cfg['workprefix']}{uid}-" + ("" if pid is None else f"{pid}")
    clean = True
    for directory in cfg["temp_dirs"]:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                ours = entry.path == prefix or (pid is None and entry.path.startswith(prefix))
                if not ours and entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    import shutil  # here: it loads zlib, bz2 and lzma, which every fork copies

                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:
                continue
            except Exception:  # OSError, or RecursionError on a deep tree: never fatal here
                clean = False
    return clean


def sweep_uid(uid: int) -> bool:
    """SIGKILL every process whose real uid is ``uid`` (never root's): kill(-1) sent with the
    real and effective uid switched to ``uid``, the saved uid kept at 0 to switch back.

    Returns False when kill found no process at all to signal (ESRCH). kill(-1) reaches every
    process of this PID namespace, zombies included, whose real or saved uid is ``uid``, which
    covers everything `uid_processes` would list, so then there is nothing to look for in /proc.
    """
    os.setresuid(uid, uid, 0)
    try:
        os.kill(-1, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.setresuid(0, 0, 0)


def uid_processes(uid: int) -> list[int]:
    """Other processes (zombies included) whose real uid is ``uid``, from /proc (in the PID
    namespace the sandbox's own, listing only sandbox processes)."""
    found, own, wanted = [], str(os.getpid()), f"\nUid:\t{uid}\t".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry == own:
            continue
        try:
            fd = os.open(f"/proc/{entry}/status", os.O_RDONLY)
        except OSError:
            continue
        try:
            head = os.read(fd, 4096)  # "Uid:\treal\teffective..." is among the first lines
        except OSError:
            continue
        finally:
            os.close(fd)
        if wanted in head:
            found.append(int(entry))
    return found
