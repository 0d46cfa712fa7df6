"""
How a grading worker is kept apart from the grader, the machine and the other students.

Three levels, strongest first; ``course grade`` uses the strongest that works
here and records it in every ``results.json``:

- ``bubblewrap``: the worker runs under bwrap (a standard tool, Debian package
  ``bubblewrap``) in new PID, network, IPC, UTS and mount namespaces. Its file
  system holds, read-only, the interpreter and its packages, the worker script
  and the submission's ``hw/``, and, writable, a size-limited tmpfs for its
  home, its copy of the submission and /tmp. Nothing of the repository is
  mounted. When grading as root the worker runs as a uid of its own grading
  slot (so the process limit counts that slot alone); everything it starts
  dies with it, because killing bwrap ends the PID namespace.
- ``uid`` (root without bwrap): a distinct uid per grading slot, a 0700
  scratch folder, the probes sent over the pipe (never a path into the
  repository), and a sweep that kills every process of the slot's uid and
  deletes its files in the shared temporary folders. What it cannot hide:
  world-readable files elsewhere on the machine (see the README).
- ``process`` (neither): resource limits and a process group only.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

from course import REPO_ROOT

BUBBLEWRAP, UID, PROCESS = "bubblewrap", "uid", "process"
LEVELS = (BUBBLEWRAP, UID, PROCESS)

# Grading slots run as uids far above any login or system account, one per
# slot and per grading process, so that two `course grade` runs on one
# machine never share a uid (the uid fallback kills by uid). Linux's pids stay
# below 2**22, so the highest slot uid (about 1.77e9) is a valid uid.
SLOT_UID_BASE = 1_500_000_000
SLOTS_PER_PROCESS = 64

SANDBOX_TMP = "/tmp"
SANDBOX_HOME = "/tmp/student"
SANDBOX_GRADER = "/srv/grader"
SHARED_TEMP_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")
# Packages of this repository that a non-editable install would put next to
# torch: hidden from the sandbox by an empty tmpfs over them.
REPOSITORY_PACKAGES = ("hw", "course", "autograder")


def running_as_root() -> bool:
    return os.geteuid() == 0


def readable_by_everyone(path: Path) -> bool:
    """Whether a user with no relation to the owner can reach and read ``path``."""
    path = path.resolve()
    folders = [path, *path.parents]
    return bool(path.stat().st_mode & 0o004) and all(folder.stat().st_mode & 0o001 for folder in folders)


def slot_uid(slot: int, pid: int | None = None) -> int:
    """The uid of grading slot ``slot`` of the process ``pid`` (this one by default)."""
    return SLOT_UID_BASE + (os.getpid() if pid is None else pid) * SLOTS_PER_PROCESS + slot % SLOTS_PER_PROCESS


@lru_cache(maxsize=None)
def bubblewrap_problem() -> str | None:
    """Why bwrap cannot be used here, or None when a trial sandbox ran."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    trial = ["bwrap", *_namespace_options(), *system_binds(), "--", sys.executable, "-I", "-c", "pass"]
    try:
        proc = subprocess.run(trial, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    if proc.returncode != 0:
        return f"bwrap cannot create a sandbox here: {proc.stderr.strip()[-300:]}"
    return None


def choose_level(requested: str = "auto") -> tuple[str, str]:
    """The isolation level to use and a sentence about it for the instructor."""
    if requested not in ("auto", *LEVELS):
        raise ValueError(f"unknown isolation {requested!r}; choose auto, {', '.join(LEVELS)}")
    problem = bubblewrap_problem() if requested in ("auto", BUBBLEWRAP) else None
    if requested == BUBBLEWRAP and problem:
        raise RuntimeError(f"isolation 'bubblewrap' was asked for, but {problem}")
    if requested in ("auto", BUBBLEWRAP) and not problem:
        who = "a uid per grading slot" if running_as_root() else "your uid, in a user namespace"
        return BUBBLEWRAP, f"bubblewrap sandbox (own PID, network, IPC and mount namespaces; {who})"
    if requested == UID and not running_as_root():
        raise RuntimeError("isolation 'uid' needs root (it runs each grading slot under a uid of its own)")
    if requested in ("auto", UID) and running_as_root():
        why = f" ({problem})" if problem else ""
        sentence = f"fallback: a uid per grading slot, no namespaces{why}; see the README for what it does not protect"
        if readable_by_everyone(REPO_ROOT):
            sentence += f". WARNING: every user can read {REPO_ROOT}, so submissions can read the solutions: chmod 700 it"
        return UID, sentence
    why = f" ({problem})" if problem else ""
    return PROCESS, f"weakest fallback: resource limits only, not root and no bwrap{why}; see the README"


def _namespace_options():
    options = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if not running_as_root():
        options.append("--unshare-user")  # bwrap needs a user namespace to mount anything without root
    return [*options, "--die-with-parent", "--new-session", "--hostname", "grader"]


def _parents(path: str):
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _bind(args, made, source: str, dest: str, option="--ro-bind"):
    # bwrap would create missing parent folders 0700 (root-only); the slot's
    # uid must be able to walk through them.
    for parent in _parents(dest):
        if parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    args += [option, source, dest]


def interpreter_roots():
    """Folders that hold the interpreter and every package it imports."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if path.is_dir() and not any(root in path.parents or root == path for root in roots):
            if "site-packages" in path.parts or "dist-packages" in path.parts:
                roots.add(path)
    return sorted(roots)


def system_binds():
    """The parts of the system every Python needs: its shared libraries and the CPU description."""
    args, made = [], set()
    for folder in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            _bind(args, made, folder, folder)
    for file in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        if os.path.exists(file):
            _bind(args, made, file, file)
    # torch reads the CPU's features from /proc/cpuinfo; without it, it falls
    # back to its slowest kernels (measured: 3x slower matrix products). No
    # other part of /proc is mounted.
    _bind(args, made, "/proc/cpuinfo", "/proc/cpuinfo")
    for root in interpreter_roots():
        if not str(root).startswith(("/usr/", "/lib/", "/lib64/", "/bin/")):
            _bind(args, made, str(root), str(root))
    return args


def _masks():
    """Empty folders over anything of the repository's that a bound folder would expose."""
    args = []
    for root in interpreter_roots():
        if root == REPO_ROOT or root in REPO_ROOT.parents:
            args += ["--tmpfs", str(REPO_ROOT)]
        for site in [p for p in (root, *root.glob("lib/python*/site-packages")) if p.name == "site-packages"]:
            args += [arg for name in REPOSITORY_PACKAGES if (site / name).is_dir() for arg in ("--tmpfs", str(site / name))]
    return args


def bubblewrap_command(worker_script_dir: Path, disk_bytes: int, uid: int | None, command):
    """
    The bwrap command line that runs ``command`` (the worker) in the sandbox.

    ``worker_script_dir`` appears read-only at /srv/grader; nothing of the
    submission is mounted (its modules arrive as text, see course.grading.sandbox).
    /tmp is a tmpfs of ``disk_bytes`` and the home folder lives in it, so one
    bound covers everything the submission writes. It is mounted first: an
    interpreter that lives under /tmp is bound inside it, read-only. With
    ``uid`` (grading as root) setpriv runs the worker as that uid without any
    capability.
    """
    args = ["bwrap", *_namespace_options()]
    if running_as_root():
        # setpriv needs these two to change uid; it clears them (and all the others) before the worker starts.
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args += ["--perms", "1777", "--size", str(disk_bytes), "--tmpfs", SANDBOX_TMP]
    args += system_binds()
    args += _masks()
    args += ["--dev", "/dev"]
    args += ["--perms", "1777", "--dir", SANDBOX_HOME]
    made = set()
    _bind(args, made, str(worker_script_dir), SANDBOX_GRADER)
    args += ["--chdir", SANDBOX_HOME, "--"]
    if uid is not None:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        args += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--"]
    return args + list(command)


# -- finding and ending a sandbox's processes ------------------------------------


def _status_uid(pid: str):
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def pids_of_uid(uid: int):
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _status_uid(p) == uid]


def descendants(pid: int):
    """Every process below ``pid`` (through /proc/<pid>/task/*/children)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


def resident_bytes(pids):
    """Resident memory of these processes together (VmRSS)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total


def kill_uid(uid: int, patience: float = 10.0):
    """
    SIGKILLs every process of ``uid`` until none is left; returns how many
    were still alive at the end (0 unless something holds them, e.g. a
    process in uninterruptible sleep).
    """
    deadline = time.monotonic() + patience
    while True:
        pids = pids_of_uid(uid)
        if not pids or time.monotonic() > deadline:
            return len(pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def remove_files_of_uid(uid: int, folders=SHARED_TEMP_FOLDERS):
    """Deletes what ``uid`` left in the machine's shared temporary folders."""
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue


def folder_bytes(folder: Path, max_entries: int = 20_000):
    """Disk used under ``folder``; past ``max_entries`` files it reports infinity (a flood of files counts as full)."""
    total, seen, stack = 0, 0, [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > max_entries:
                return float("inf")
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total

