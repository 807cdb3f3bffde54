"""Shared pieces of the end-to-end suite: fixtures and helpers over real processes.

The session fixture `services` (autouse) provides the devnet (dev chain + dev oracle) and the two
pipeline nodes, A and B: it reuses them when E2E_* variables describe running ones, or when
`Tests/e2e/services.sh up` runs them (logs/services); otherwise it starts them itself (services.py)
into this session's log folder and stops them when the session ends (also on Ctrl-C or after
--pdb; each process also watches pytest's pid). Nodes A and B start on first use.

Tests start further real `plumise-petals` processes when they need their own (to kill them,
restart them, or watch what they send), and put small recording HTTP proxies on 127.0.0.1 between
a node and the devnet when they must see the exact bytes that crossed the wire.

Fixtures for a new test file: `services` (session, autouse), `node_a` / `node_b` (session: the
pipeline nodes, RunningNode), `oracle` (module: a RecordingProxy in front of the dev oracle),
`started` (function: a list of Node to stop after the test). Helpers: env(), fresh_key(),
dev_key(), Node, local_greedy(), rpc(), oracle_get(), wait_until(), requires_default_model.
"""
import datetime
import logging
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from eth_account import Account
from eth_utils import keccak

import services as services_module
from model_files import block_count, model_id
from recording_proxy import RecordingProxy  # noqa: F401 (test files import it from here)

# Decided when pytest starts, the same for every test of the session: the executable, the model
# (E2E_MODEL, else MODEL_NAME, else the default; absolute paths) and this session's log folder.
BIN = services_module.default_binary()
MODEL = services_module.default_model()


def _new_log_dir():
    """logs/e2e-<date>-<time>, made here so that two sessions started in the same second (two
    shells, or a test's own session) never share one: the second gets a -2 suffix, and so on."""
    base = services_module.REPO / "logs" / datetime.datetime.now().strftime("e2e-%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no free log folder beside {base}")


LOG_DIR = str(Path(os.environ.get("E2E_LOG_DIR") or _new_log_dir()).resolve())
CHAIN_ID = 41956
REGISTER = "0x0000000000000000000000000000000000000021"
HEARTBEAT = "0x0000000000000000000000000000000000000022"
GAS_PRICE = 10 ** 9  # the dev chain's eth_gasPrice
log = logging.getLogger("e2e")

# The session's services when this session started them (nodes A and B start on first use).
_own_services = None
_LAZY = {"E2E_NODE_A_API", "E2E_NODE_B_API", "E2E_NODE_A_BLOCKS", "E2E_NODE_B_BLOCKS"}


def env(name):
    value = os.environ.get(name)
    if not value and name in _LAZY and _own_services is not None:
        _own_services.up(services_module.NODES)
        os.environ.update(_own_services.environment())
        value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: set every E2E_* variable (Tests/e2e/services.sh env prints them) or none, "
                    f"and pytest starts the services itself", returncode=2)
    return value


def pipeline_blocks():
    """The split of the pipeline nodes, "a:b" for A and for B (NUM_BLOCKS, default half), for
    tests that start a pipeline of their own."""
    first, second = services_module.split(block_count(MODEL))
    return "%d:%d" % tuple(first), "%d:%d" % tuple(second)


def is_default_model():
    return services_module.is_default_model(MODEL)


# Tests whose assertions hold only for the default model's text (no end of text within the
# tokens they ask for) carry this mark; `_skip_unless_default_model` skips them, saying so, when
# the services run another model (MODEL_NAME).
requires_default_model = pytest.mark.requires_default_model


def dev_key(index):
    """The index-th funded devnet key. Keys 0 and 1 belong to the pipeline nodes A and B, the
    last one is fresh_key()'s faucet. A node of a test takes fresh_key() instead: a dev key is
    registered (and its report timestamps taken) by the first session on a devnet, so a test
    using one passes only once on services that stay up."""
    keys = env("E2E_KEYS").split(",")
    assert index < len(keys), f"the devnet funds only {len(keys)} keys"
    return keys[index]


_faucet_lock = threading.Lock()


def fresh_key(plm=10):
    """The key of a new account, never seen by the chain or the oracle, funded with `plm` PLM
    by a plain transfer from the last dev key (enough for registration and many heartbeats)."""
    account = Account.create()
    faucet = Account.from_key(env("E2E_KEYS").split(",")[-1])
    with _faucet_lock:
        nonce = int(rpc("eth_getTransactionCount", faucet.address, "latest"), 16)
        signed = faucet.sign_transaction({"nonce": nonce, "gasPrice": GAS_PRICE, "gas": 21000, "to": account.address,
                                          "value": plm * 10 ** 18, "data": b"", "chainId": CHAIN_ID})
        tx = rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex().removeprefix("0x"))
    receipt = wait_until("the funding transfer's receipt", lambda: rpc("eth_getTransactionReceipt", tx), timeout=30)
    assert int(receipt["status"], 16) == 1, receipt
    return "0x" + account.key.hex().removeprefix("0x")


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


# The model id the network knows the model by (plumise-oracle hashes and routes by it): for the
# default model "HuggingFaceTB/SmolLM2-135M-Instruct" (GGUF general.organization + the file name
# without its quantization), derived from the file as the node does (services.model_id), or E2E_MODEL_ID.
MODEL_ID = os.environ.get("E2E_MODEL_ID") or (model_id(MODEL) if os.path.exists(MODEL) else "")

# plumise-oracle src/modules/proof/dto/inference-proof.dto.ts: a proof has exactly these keys.
PROOF_KEYS = {"modelHash", "inputHash", "outputHash", "tokenCount"}


def hash_text(text):
    return "0x" + keccak(text.encode("utf-8")).hex()


# ---------------------------------------------------------------- node processes


class Node:
    """A real `plumise-petals serve` process (full node unless --shard-only is passed)."""

    def __init__(self, name, args, key=None, rpc_url=None, oracle_url=None, extra_env=None):
        self.name = name
        self.key = key
        self.served = []  # the answers of generate(), in order
        self.log_path = os.path.join(LOG_DIR, f"{name}-{int(time.time() * 1000)}.log")
        command = [BIN, "serve", "--watch-pid", str(os.getpid()), "--model", MODEL, "--threads", "1",
                   "--host", "127.0.0.1", "--port", "0"]
        environment = {k: v for k, v in os.environ.items() if k not in services_module.NODE_SETTINGS}
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
        # What the node's metrics say before anyone used it.
        self.metrics_at_start = self.metrics() if self.api else None

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
        self.served.append(answer.json())
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


# ---------------------------------------------------------------- the session's services


class RunningNode:
    """A pipeline node of the services (A or B), known by its API URL, key and blocks."""

    def __init__(self, api, key, blocks):
        self.api = api
        self.key = key
        self.blocks = blocks  # "a:b"

    @property
    def agent(self):
        return address_of(self.key)

    def generate(self, prompt, max_new_tokens=8):
        answer = requests.post(self.api + "/api/v1/generate", timeout=300, json={
            "inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens, "do_sample": False}})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def metrics(self):
        return Node.metrics(self)


@pytest.fixture(scope="session", autouse=True)
def services(request):
    """The devnet and nodes A and B for this session (see the module's docstring); yields the
    Services object this session started, or None when it uses running services."""
    global _own_services
    try:
        services_module.binary(BIN)
        services_module.model_path(MODEL)
    except services_module.ServiceError as error:
        pytest.exit(f"e2e: {error}", returncode=2)
    Path(LOG_DIR).mkdir(parents=True, exist_ok=True)
    request.config.stash[_LOGS_SHOWN] = True
    source = _services_source()
    if source != "own":
        if source == "reused":
            running = services_module.Services(services_module.SERVICES_DIR)
            os.environ.update(running.environment())
        log.info("e2e services: %s", _SOURCES[source])
        yield None
        return
    own = services_module.Services(LOG_DIR, watch_pid=os.getpid(), executable=BIN, model=MODEL)
    _own_services = own
    saved = dict(os.environ)
    try:
        own.up(["devnet"])
        os.environ.update(own.environment())
        yield own
    except services_module.ServiceError as error:
        pytest.exit(f"e2e: {error}", returncode=2)
    finally:
        _own_services = None
        own.down()
        os.environ.clear()
        os.environ.update(saved)


_LOGS_SHOWN = pytest.StashKey()
_SOURCES = {"given": "the E2E_* variables' (nothing started)",
            "reused": f"reusing {services_module.SERVICES_DIR} (Tests/e2e/services.sh)",
            "own": "started for this session, stopped at its end"}


def _services_source():
    """Where this session's services come from: "given" (E2E_* variables), "reused" (services.sh
    runs them all with this session's executable and model, unless E2E_OWN_SERVICES=1) or "own"
    (the session starts them)."""
    if os.environ.get("E2E_CHAIN_URL"):
        return "given"
    if (os.environ.get("E2E_OWN_SERVICES") != "1"
            and services_module.Services(services_module.SERVICES_DIR).runs(BIN, MODEL)):
        return "reused"
    return "own"


def pytest_report_header(config):
    return f"e2e services: {_SOURCES[_services_source()]}; model {MODEL}"


def pytest_terminal_summary(terminalreporter, config):
    if config.stash.get(_LOGS_SHOWN, False):
        terminalreporter.write_line(f"e2e: logs in {LOG_DIR}")


@pytest.fixture(autouse=True)
def _skip_unless_default_model(request):
    if request.node.get_closest_marker("requires_default_model") and not is_default_model():
        pytest.skip(f"checks text of the default model ({services_module.DEFAULT_MODEL}); "
                    f"the services run {MODEL}")


@pytest.fixture(scope="session")
def node_a():
    """Pipeline node A (blocks 0:NUM_BLOCKS, dev key 0), started on first use."""
    return RunningNode(env("E2E_NODE_A_API"), dev_key(0), env("E2E_NODE_A_BLOCKS"))


@pytest.fixture(scope="session")
def node_b():
    """Pipeline node B (the rest of the blocks, dev key 1), started on first use."""
    return RunningNode(env("E2E_NODE_B_API"), dev_key(1), env("E2E_NODE_B_BLOCKS"))


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_default_model: checks text only the default model gives")
