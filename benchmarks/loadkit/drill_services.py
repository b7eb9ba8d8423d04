"""Private services for the drills that stop them: a throwaway PostgreSQL cluster and a redis-server,
on their own ports, never the shared ones."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_PORTS = range(25400, 25500)
REDIS_PORTS = range(26300, 26400)
DRILL_PG_DB = os.environ.get("LOADKIT_DRILL_PG_DB", "yingcai_loadkit_drills")



def free_port(candidates: range) -> int:
    """The first port of ``candidates`` nobody listens on."""
    for port in candidates:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {candidates.start}–{candidates.stop - 1}")


# --- private services ----------------------------------------------------------------------------------------


class PrivatePostgres:
    """A throwaway PostgreSQL cluster of our own: restart and SIGSTOP it, never the shared one."""

    def __init__(self, workdir: str):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: install postgresql")
        self.bin = Path(bins[-1]).parent
        # Its own directory under /tmp (the work directory may be private to root; the cluster runs as postgres).
        self.dir = Path(tempfile.mkdtemp(prefix="yingcai-drill-pg-"))
        self.data = self.dir / "data"
        self.port = free_port(PG_PORTS)
        self.root = os.geteuid() == 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        full = ["runuser", "-u", "postgres", "--", *cmd] if self.root else list(cmd)
        done = subprocess.run(full, capture_output=True, text=True, check=False, timeout=60)
        if check and done.returncode:
            raise RuntimeError(f"{' '.join(cmd[:1])} failed ({done.returncode}): {(done.stderr or done.stdout)[-500:]}")
        return done

    def init(self) -> PrivatePostgres:
        """initdb (trust, loopback only, fsync off) and start."""
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-instructions", "--locale=C.UTF-8")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                     "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\n"
                     "shared_buffers = 32MB\n")
        self.start()
        return self

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "30",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop", check=False)

    def pids(self) -> list[int]:
        """The postmaster and all its children (backends, checkpointer, walwriter, …)."""
        try:
            master = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        pids = [master]
        try:
            with open(f"/proc/{master}/task/{master}/children") as fh:
                pids += [int(p) for p in fh.read().split()]
        except OSError:
            pass
        return pids

    def signal_all(self, sig: int) -> int:
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return len(pids)

    def destroy(self) -> None:
        """Stop (immediate) and delete the cluster's directory."""
        self.signal_all(signal.SIGCONT)
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of our own (no persistence) that the Redis drill stops and starts again."""

    def __init__(self, workdir: str):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port(REDIS_PORTS)
        self.log = Path(workdir) / f"redis-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--daemonize", "no"], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --- the load with a fault ------------------------------------------------------------------------------------
