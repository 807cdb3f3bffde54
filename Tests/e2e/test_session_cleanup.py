"""The session fixture's promise when a run is cut short: after a Ctrl-C in the middle of a test,
and after quitting the debugger that --pdb opened at a failure, no process the session started is
left (the devnet, nodes A and B, a node the test started itself) and every log stays.

Each case runs a second pytest session of its own (its own devnet and nodes, in a folder under this
session's logs) over a small test file written there, and interrupts it as a user would: SIGINT to
its whole process group, which is what a terminal's Ctrl-C sends, or `q` typed at the (Pdb) prompt.
About 10 s each: the inner session starts its services from nothing."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import BIN, LOG_DIR, MODEL
import services as services_module

HERE = Path(__file__).resolve().parent

INNER_TESTS = '''
import os
import time

from conftest import Node


def test_interrupted_while_running(node_a, node_b, started):
    node_a.generate("Interrupt me", 2)
    started.append(Node("own", ["--shard-only", "--blocks", "0:1"]))
    open(os.environ["INNER_MARK"], "w").write("running")
    time.sleep(200)


def test_fails_into_the_debugger(node_a, node_b, started):
    node_a.generate("Debug me", 2)
    started.append(Node("own", ["--shard-only", "--blocks", "0:1"]))
    assert False, "failing on purpose, for --pdb"
'''


class Inner:
    """A pytest session over INNER_TESTS with services of its own, its output read as it comes."""

    def __init__(self, name, *arguments):
        self.dir = Path(LOG_DIR) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "test_inner.py").write_text(INNER_TESTS)
        self.mark = self.dir / "running"
        # The E2E_* variables of this session's services stay out: the inner session starts its own.
        environment = {k: v for k, v in os.environ.items() if not k.startswith("E2E_")}
        environment.update(E2E_BIN=BIN, E2E_MODEL=MODEL, E2E_OWN_SERVICES="1", E2E_LOG_DIR=str(self.dir),
                           INNER_MARK=str(self.mark), PYTHONPATH=str(HERE), PYTHONUNBUFFERED="1")
        # conftest.py loaded as a plugin: its fixtures and hooks, for a file outside Tests/e2e.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "--rootdir", str(self.dir),
             "-o", "timeout=240", str(self.dir / "test_inner.py"), *arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment, text=True,
            start_new_session=True,  # a process group of its own, as a shell gives a foreground job
            # and Ctrl-C handled, as in a terminal, even when this suite runs with SIGINT ignored
            # (a background job of a non-interactive shell, e.g. `nohup ./scripts/test.sh &`)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.output = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while piece := self.process.stdout.read(1):
            self.output.append(piece)

    def text(self):
        return "".join(self.output)

    def wait_for(self, what, condition, timeout=180):
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the inner session ended before {what}:\n{self.text()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.text()}"
            time.sleep(0.1)

    def state(self):
        return services_module.Services(self.dir).state

    def service_pids(self):
        return {name: self.state()[name]["pid"] for name in services_module.ORDER}

    def finish(self, timeout=60):
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise AssertionError(f"the inner session did not end {timeout} s after the interruption:\n{self.text()}")
        self.reader.join(5)
        return code

    def leftovers(self):
        """Live plumise-petals processes that watch the inner pytest's pid (every process it started)."""
        pid = str(self.process.pid).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            watched = [words[i + 1] for i, w in enumerate(words[:-1]) if w == b"--watch-pid"]
            if words and b"plumise-petals" in words[0] and pid in watched and services_module.alive(int(entry.name)):
                found.append((int(entry.name), b" ".join(words).decode(errors="replace")))
        return found


def assert_nothing_left_and_logs_kept(inner, pids):
    assert not inner.leftovers(), inner.leftovers()
    for name, pid in pids.items():
        assert not services_module.alive(pid), f"{name} (pid {pid}) outlived the session"
    for name in services_module.ORDER:
        log_file = inner.dir / f"{name}.log"
        assert log_file.is_file() and log_file.stat().st_size > 0, f"{log_file} missing or empty"
    assert list(inner.dir.glob("own-*.log")), "the log of the test's own node is missing"
    assert f"e2e: logs in {inner.dir}" in inner.text(), inner.text()


@pytest.fixture
def inner_sessions():
    sessions = []
    yield sessions
    for inner in sessions:  # whatever happened above, nothing of theirs outlives this test
        if inner.process.poll() is None:
            os.killpg(inner.process.pid, signal.SIGKILL)
        for pid, _ in inner.leftovers():
            os.kill(pid, signal.SIGKILL)


class TestSessionCleanup:
    def test_ctrl_c_in_the_middle_of_a_test_stops_every_process_and_keeps_the_logs(self, inner_sessions):
        inner = Inner("interrupted", "-v", "-k", "interrupted_while_running")
        inner_sessions.append(inner)
        inner.wait_for("the inner test to run", inner.mark.exists)
        pids = inner.service_pids()
        assert all(services_module.alive(pid) for pid in pids.values()), inner.state()

        os.killpg(inner.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        inner.finish()
        assert "KeyboardInterrupt" in inner.text(), inner.text()
        assert_nothing_left_and_logs_kept(inner, pids)

    def test_quitting_the_debugger_after_a_failure_stops_every_process_and_keeps_the_logs(self, inner_sessions):
        inner = Inner("debugged", "-v", "--pdb", "-k", "fails_into_the_debugger")
        inner_sessions.append(inner)
        inner.wait_for("the (Pdb) prompt", lambda: "(Pdb)" in inner.text())
        # The debugger holds the session: its services still run, to be looked at.
        pids = inner.service_pids()
        assert all(services_module.alive(pid) for pid in pids.values()), inner.state()
        assert inner.leftovers(), "the test's own node should still run at the prompt"

        inner.process.stdin.write("q\n")
        inner.process.stdin.flush()
        assert inner.finish() != 0
        assert "failing on purpose" in inner.text(), inner.text()
        assert_nothing_left_and_logs_kept(inner, pids)
