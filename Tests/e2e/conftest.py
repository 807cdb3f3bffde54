"""Shared pieces of the end-to-end suite.

run_e2e.sh starts the devnet (chain + oracle) and two pipeline nodes as separate processes and
passes their coordinates in E2E_* variables. Tests start further real `plumise-petals` processes
when they need their own (to kill them, restart them, or watch what they send), and put small
recording HTTP proxies on 127.0.0.1 between a node and the devnet when they must see the exact
bytes that crossed the wire.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from eth_account import Account
from eth_utils import keccak

BIN = os.environ.get("E2E_BIN", ".build/release/plumise-petals")
MODEL = os.environ.get("E2E_MODEL", "models/SmolLM2-135M-Instruct.Q4_1.gguf")
LOG_DIR = os.environ.get("E2E_LOG_DIR", "/tmp")
CHAIN_ID = 41956
REGISTER = "0x0000000000000000000000000000000000000021"
HEARTBEAT = "0x0000000000000000000000000000000000000022"


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the suite through Tests/e2e/run_e2e.sh", returncode=2)
    return value


def dev_key(index):
    """The index-th funded devnet key. Keys 0 and 1 belong to the pipeline nodes A and B."""
    keys = env("E2E_KEYS").split(",")
    assert index < len(keys), f"the devnet funds only {len(keys)} keys"
    return keys[index]


def address_of(key):
    return Account.from_key(key).address


def wait_until(what, condition, timeout=60.0, interval=0.2):
    """Polls condition() until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- chain and oracle


def rpc(method, *params, url=None):
    """One JSON-RPC call to the dev chain; returns the result or raises with the error."""
    answer = requests.post(url or env("E2E_CHAIN_URL"),
                           json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                           timeout=10).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def oracle_get(path):
    """A GET on the dev oracle, as JSON."""
    answer = requests.get(env("E2E_ORACLE_URL") + path, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def oracle_agent_metrics(agent):
    """What the dev oracle holds of an agent (its latest accepted totals), or None."""
    answer = oracle_get(f"/api/v1/metrics/agents/{agent}")
    return None if answer.get("metrics", 0) is None else answer


def canonical_message(report):
    """The exact string a node signs (DESIGN.md): compact JSON in this key order."""
    return ('{"agent":"%s","processed_tokens":%d,"timestamp":%d}'
            % (report["wallet"], report["tokensProcessed"], report["timestamp"]))


# The model id the network knows the default model by (plumise-oracle hashes and routes by it):
# GGUF general.organization + the file name without its quantization, or MODEL_ID.
MODEL_ID = os.environ.get("E2E_MODEL_ID", "HuggingFaceTB/SmolLM2-135M-Instruct")

# plumise-oracle src/modules/proof/dto/inference-proof.dto.ts: a proof has exactly these keys.
PROOF_KEYS = {"modelHash", "inputHash", "outputHash", "tokenCount"}


def hash_text(text):
    return "0x" + keccak(text.encode("utf-8")).hex()


# ---------------------------------------------------------------- recording proxy


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 in front of `upstream`, recording every POST body with the
    upstream's answer. down() closes its port (connection refused, as for a dead oracle) and
    up() opens the same port again."""

    def __init__(self, upstream):
        self.upstream = upstream.rstrip("/")
        self.exchanges = []  # (path, request json, status, response text)
        self.lock = threading.Lock()
        self.port = 0
        self.server = None
        self.up()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def up(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    answer = requests.post(proxy.upstream + self.path, data=body, timeout=30,
                                           headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
                    status, text = answer.status_code, answer.text
                except requests.RequestException as error:
                    status, text = 502, json.dumps({"status": "error", "message": str(error)})
                try:
                    request = json.loads(body)
                except ValueError:
                    request = None
                with proxy.lock:
                    proxy.exchanges.append((self.path, request, status, text))
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        self.server.shutdown()
        self.server.server_close()

    def recorded(self, path=None):
        with self.lock:
            return [e for e in self.exchanges if path is None or e[0] == path]

    def accepted_reports(self):
        """Reports the oracle accepted (2xx and not {"status":"error"})."""
        reports = []
        for _, request, status, text in self.recorded("/api/v1/metrics/report"):
            if 200 <= status < 300 and '"error"' not in text:
                reports.append(request)
        return reports

    def raw_transactions(self):
        """The raw transactions sent with eth_sendRawTransaction, as bytes."""
        raws = []
        for _, request, _, _ in self.recorded():
            if isinstance(request, dict) and request.get("method") == "eth_sendRawTransaction":
                raws.append(bytes.fromhex(request["params"][0][2:]))
        return raws


# ---------------------------------------------------------------- node processes


class Node:
    """A real `plumise-petals serve` process (full node unless --shard-only is passed)."""

    def __init__(self, name, args, key=None, rpc_url=None, oracle_url=None, extra_env=None):
        self.name = name
        self.key = key
        self.log_path = os.path.join(LOG_DIR, f"{name}-{int(time.time() * 1000)}.log")
        command = [BIN, "serve", "--watch-pid", str(os.getpid()), "--model", MODEL, "--threads", "1",
                   "--host", "127.0.0.1", "--port", "0"]
        environment = dict(os.environ)
        if "--shard-only" not in args:
            command += ["--env-file", "/dev/null", "--api-port", "0",
                        "--rpc-url", rpc_url or env("E2E_CHAIN_URL"),
                        "--oracle-url", oracle_url or env("E2E_ORACLE_URL"),
                        "--report-interval", "10", "--heartbeat-interval", "3"]
            environment["PLUMISE_PRIVATE_KEY"] = key
        environment.update(extra_env or {})
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command + args, stdout=subprocess.PIPE, stderr=self.log, env=environment,
                                        text=True)
        self.address, self.api = self._wait_ready()

    def _wait_ready(self, timeout=120):
        lines = []

        def read():
            for line in self.process.stdout:
                lines.append(line)
                if line.startswith("ready "):
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        ready = next((l for l in lines if l.startswith("ready ")), None)
        if ready is None:
            self.stop(signal.SIGKILL)
            raise AssertionError(f"{self.name} did not become ready; log:\n{self.logged()}")
        parts = ready.split()
        api = f"http://127.0.0.1:{parts[3]}" if len(parts) >= 4 and parts[2] == "api" else None
        return parts[1], api

    @property
    def agent(self):
        return address_of(self.key)

    @property
    def shard_port(self):
        return int(self.address.rsplit(":", 1)[1])

    def logged(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` and returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()

    def generate(self, prompt, max_new_tokens=8, timeout=180):
        answer = requests.post(self.api + "/api/v1/generate", timeout=timeout, json={
            "inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens, "do_sample": False}})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def metrics(self):
        """The node's Prometheus metrics without labels, as floats."""
        text = requests.get(self.api + "/metrics", timeout=10).text
        return {m.group(1): float(m.group(2)) for m in re.finditer(r"^([a-z_]+) ([0-9.e+-]+)$", text, re.M)}


def local_greedy(prompt, max_new_tokens):
    """Greedy continuation computed in one process, without any swarm (the reference)."""
    out = subprocess.run([BIN, "generate", "--model", MODEL, "--prompt", prompt, "--max-new-tokens",
                          str(max_new_tokens), "--quiet", "--threads", "2"],
                         capture_output=True, text=True, timeout=300, check=True)
    return out.stdout[:-1] if out.stdout.endswith("\n") else out.stdout


def established_connections(port):
    """Established TCP connections whose local port is `port` (from /proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if local_port == port and fields[3] == "01":
                        count += 1
        except FileNotFoundError:
            pass
    return count


@pytest.fixture(scope="module")
def oracle():
    """A recording proxy in front of the dev oracle, for a module's own node."""
    proxy = RecordingProxy(env("E2E_ORACLE_URL"))
    yield proxy
    proxy.down()


@pytest.fixture
def started():
    """Nodes a test starts; stopped (SIGKILL if they hang) after it."""
    nodes = []
    yield nodes
    for node in nodes:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
            try:
                node.process.wait(20)
            except subprocess.TimeoutExpired:
                node.process.kill()
