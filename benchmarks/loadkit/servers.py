"""Start and stop gunicorn (the app or the bare baseline) on loopback ports, and read their CPU time."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.loadkit.target import REPO

APP = "wsgi:app"
BARE = "benchmarks.loadkit.bare_app:app"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """One gunicorn master with its workers, in its own process group (stopped by its id only)."""

    name: str
    spec: str  # wsgi:app or the bare app
    port: int
    env: dict[str, str]
    logdir: str
    workers: int = 0  # 0: gunicorn.conf.py decides
    worker_class: str = ""  # "": gunicorn.conf.py decides
    threads: int = 0
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 1024 <= self.port < 32768:
            raise ValueError("the kit listens on loopback ports 1024–32767 only")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        """Launch gunicorn with the repo's gunicorn.conf.py and wait until it answers."""
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the gunicorn process (returns at once); refuses a port something else listens on."""
        import socket

        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"127.0.0.1:{self.port} is already in use (another load kit run?); "
                                   "choose another --port")
        env = {**os.environ, **self.env, "YINGCAI_BIND": f"127.0.0.1:{self.port}", "YINGCAI_ACCESS_LOG": "off",
               "PYTHONPATH": str(REPO)}
        if self.workers:
            env["YINGCAI_WORKERS"] = str(self.workers)
        if self.worker_class:
            env["YINGCAI_WORKER_CLASS"] = self.worker_class
        if self.threads:
            env["YINGCAI_THREADS"] = str(self.threads)
        Path(self.logdir).mkdir(parents=True, exist_ok=True)
        log = open(Path(self.logdir) / f"{self.name}-{self.port}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"), self.spec],
                                     cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._log = log.name

    def wait_ready(self, timeout: float = 60) -> Server:
        """Wait until every worker is up and the server answers."""
        path = "/health" if self.spec == BARE else "/api/time"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self._log}")
            try:
                with urllib.request.urlopen(self.base + path, timeout=2) as r:
                    if r.status == 200 and len(self.worker_pids()) >= max(1, self.workers or 1):
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.base} within {timeout} s")

    def stop(self) -> None:
        """SIGTERM the process group (graceful), SIGKILL after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def worker_pids(self) -> list[int]:
        """The workers (children of the master)."""
        if self.proc is None:
            return []
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as fh:
                return [int(p) for p in fh.read().split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its live workers so far."""
        total = 0.0
        for pid in [self.proc.pid, *self.worker_pids()] if self.proc else []:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
            except OSError:
                pass
        return total

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Running:
    """Several servers started in parallel (workers boot together) and stopped together."""

    def __init__(self, *servers: Server | None):
        self.servers = [s for s in servers if s is not None]

    def __enter__(self) -> list[Server]:
        try:
            for s in self.servers:
                s.launch()
            for s in self.servers:
                s.wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self.servers

    def __exit__(self, *exc) -> None:
        for s in self.servers:
            s.stop()


def own_cpu_seconds() -> float:
    """CPU time of this process (the load generator)."""
    t = os.times()
    return t.user + t.system
