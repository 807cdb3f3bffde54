"""The end-to-end suite's services as real processes: the devnet (dev chain + dev oracle) and the
two pipeline nodes, A (blocks 0:NUM_BLOCKS) and B (the rest).

One implementation, used two ways:
- conftest.py's session fixture starts them for a pytest run (each process watches pytest's pid,
  so it dies with pytest whatever happens) and stops them when the session ends;
- services.sh runs them by hand (`up`, `status`, `logs`, `down`), detached, for manual testing
  and for pytest runs that reuse them.

State (pids, ports, URLs, keys, log paths) lives in a directory: `state.json` there, plus
`e2e.env`, the E2E_* variables as `export` lines. Settings from the environment: MODEL_NAME
(model file or safetensors directory, default the Q4_1 SmolLM2 file), NUM_BLOCKS (blocks of
node A, default half), E2E_BIN (the plumise-petals executable).
"""
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from model_files import ModelFileError, block_count

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
SERVICES_DIR = Path(os.environ.get("E2E_SERVICES_DIR", REPO / "logs" / "services"))
NODES = ("node-a", "node-b")
ORDER = ("devnet",) + NODES
ALIASES = {"oracle": "devnet", "chain": "devnet", "a": "node-a", "b": "node-b"}
READY_TIMEOUT = 120
STOP_TIMEOUT = 20
# Node settings a shell may hold (DevnetNodeLauncher.nodeSettings): the suite's nodes take theirs
# from flags, so MODEL_NAME and NUM_BLOCKS (the suite's own settings) don't reach them.
NODE_SETTINGS = {
    "PLUMISE_PRIVATE_KEY", "PLUMISE_RPC_URL", "PLUMISE_CHAIN_ID", "ORACLE_API_URL", "REPORT_INTERVAL", "MODEL_NAME",
    "NUM_BLOCKS", "PETALS_HOST", "PETALS_PORT", "API_PORT", "AGENT_REGISTRY_ADDRESS", "REWARD_POOL_ADDRESS",
    "CLAIM_THRESHOLD_WEI", "VERIFY_ON_CHAIN", "PETALS_INITIAL_PEERS", "PETALS_ANNOUNCE_IP", "MODEL_ID", "PUBLIC_URL",
    "CLAIM_AFTER_SECONDS", "HEARTBEAT_INTERVAL",
}

log = logging.getLogger("e2e")


class ServiceError(Exception):
    """A service could not be started or found; the message says what to do."""


def _model_blocks(model):
    try:
        return block_count(model)
    except (ModelFileError, OSError, ValueError) as error:
        raise ServiceError(f"cannot read the model's block count: {error}") from error


# ---------------------------------------------------------------- settings


def default_binary():
    """E2E_BIN, else the release build's executable (.build/release is a link SwiftPM makes to
    .build/<triple>/release), as an absolute path; it may not exist yet (see binary())."""
    built = [REPO / ".build" / "release" / "plumise-petals", *sorted(REPO.glob(".build/*/release/plumise-petals"))]
    path = Path(os.environ.get("E2E_BIN") or next((p for p in built if p.is_file()), built[0]))
    return str(path.resolve())


def binary(path=None):
    """The executable, or an error saying how to get it."""
    path = path or default_binary()
    if not Path(path).is_file():
        raise ServiceError(f"{path} does not exist: build first (swift build -c release -Xswiftc -enable-testing, the build of scripts/test.sh and scripts/demo.sh), or set E2E_BIN")
    return path


def default_model():
    """E2E_MODEL, else MODEL_NAME (relative to the repository root unless absolute), else the
    default model, as an absolute path; it may not exist (see model_path())."""
    name = os.environ.get("E2E_MODEL") or os.environ.get("MODEL_NAME") or DEFAULT_MODEL
    return str((Path(name) if Path(name).is_absolute() else REPO / name).resolve())


def model_path(path=None):
    """The model, or an error saying how to get it."""
    path = path or default_model()
    if not Path(path).exists():
        hint = ("run scripts/setup.sh to fetch it" if is_default_model(path)
                else "MODEL_NAME is the path of a GGUF file or a safetensors directory")
        raise ServiceError(f"model {path} does not exist ({hint})")
    return path


def is_default_model(path):
    return Path(path).resolve() == (REPO / DEFAULT_MODEL).resolve()


def split(total):
    """Node A's and node B's blocks: A serves 0:NUM_BLOCKS (default half), B the rest."""
    text = os.environ.get("NUM_BLOCKS", "")
    first = int(text) if text.strip() else total // 2
    if not 1 <= first < total:
        raise ServiceError(f"NUM_BLOCKS={text} must be in 1...{total - 1}: node A serves 0:NUM_BLOCKS of the "
                           f"model's {total} blocks and node B the rest")
    return [0, first], [first, total]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes


def alive(pid):
    """Whether pid is a live plumise-petals process (not a reused pid, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"plumise-petals" in f.read()
    except (OSError, IndexError):
        return False


def stop_pid(pid, timeout=STOP_TIMEOUT):
    """SIGTERM (a node sends its final report and exits 0), SIGKILL if it has not exited in time."""
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        log.warning("pid %d ignored SIGTERM for %d s: SIGKILL", pid, timeout)
        os.kill(pid, signal.SIGKILL)


def wait_ready(name, out_path, process_alive, log_path, timeout=READY_TIMEOUT):
    """The words after "ready " in the first ready line of out_path (the devnet prints
    "devnet ready …", a node "ready …")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(out_path) as f:
            for line in f:
                for prefix in ("devnet ready ", "ready "):
                    if line.startswith(prefix):
                        return line[len(prefix):].split()
        if not process_alive():
            raise ServiceError(f"{name} exited before it was ready; last lines of {log_path}:\n{tail(log_path, 20)}")
        time.sleep(0.1)
    raise ServiceError(f"{name} not ready after {timeout} s; see {log_path}")


def tail(path, lines):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- the services


class Services:
    """The devnet and nodes A and B of one state directory.

    watch_pid: the pid every process watches (pytest's own): they exit when it does. None for
    services.sh, whose processes outlive the command and are stopped by `down`."""

    def __init__(self, directory, watch_pid=None, executable=None, model=None):
        self.directory = Path(directory).resolve()
        self.watch_pid = watch_pid
        self.executable, self.model = executable, model  # None: from the environment at start
        self.children = {}  # name -> Popen, for processes this object started
        self.state = self._load()

    # -- state

    @property
    def state_path(self):
        return self.directory / "state.json"

    @property
    def env_path(self):
        return self.directory / "e2e.env"

    def _load(self):
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        self.state_path.write_text(json.dumps(self.state, indent=2) + "\n")
        self.env_path.write_text("".join(f"export {k}={v}\n" for k, v in self.environment().items()))

    def running(self, name):
        entry = self.state.get(name)
        return bool(entry) and alive(entry["pid"])

    def complete(self):
        """Whether the devnet and both nodes run."""
        return all(self.running(name) for name in ORDER)

    def runs(self, executable, model):
        """Whether all of them run, with this executable and model (what a test session reuses)."""
        return self.complete() and self.state.get("bin") == executable and self.state.get("model") == model

    def environment(self):
        """The E2E_* variables of what runs (conftest.py reads these)."""
        values = {"E2E_BIN": self.state.get("bin"), "E2E_MODEL": self.state.get("model")}
        devnet = self.state.get("devnet")
        if devnet and self.running("devnet"):
            values.update(E2E_CHAIN_URL=devnet["chain"], E2E_ORACLE_URL=devnet["oracle"],
                          E2E_KEYS=",".join(devnet["keys"]))
        for name in NODES:
            if self.running(name):
                key = "E2E_NODE_A_API" if name == "node-a" else "E2E_NODE_B_API"
                values[key] = self.state[name]["api"]
                values[key.replace("_API", "_BLOCKS")] = "%d:%d" % tuple(self.state[name]["blocks"])
        return {k: v for k, v in values.items() if v}

    # -- start and stop

    def up(self, names=ORDER):
        """Starts each named service that is not running, with what it needs first (a node
        needs the devnet). Nodes start together and are waited for together."""
        wanted = {ALIASES.get(n, n) for n in names}
        unknown = wanted - set(ORDER)
        if unknown:
            raise ServiceError(f"unknown service {', '.join(sorted(unknown))}: the services are oracle (the devnet: "
                               f"chain + oracle), node-a and node-b")
        if wanted & set(NODES):
            wanted.add("devnet")
        if "devnet" in wanted and not self.running("devnet"):
            self._start_devnet()
        launched = [self._launch_node(n) for n in NODES if n in wanted and not self.running(n)]
        for name, process in launched:
            self._await_node(name, process)
        self._save()

    def _prepare(self):
        """A new devnet starts a new layout: model, executable, ports of everything."""
        model = model_path(self.model)
        first, second = split(_model_blocks(model))
        self.state = {"bin": binary(self.executable), "model": model, "blocks": {"node-a": first, "node-b": second},
                      "ports": {name: free_port() for name in ("chain", "oracle", "node-a", "node-b")}}

    def _spawn(self, name, arguments, environment=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        out, err = self.directory / f"{name}.out", self.directory / f"{name}.log"
        command = [self.state["bin"], *arguments]
        if self.watch_pid is not None:
            command += ["--watch-pid", str(self.watch_pid)]
        with open(out, "w") as stdout, open(err, "a") as stderr:
            # A session of its own: a Ctrl-C in the terminal reaches pytest (which stops the
            # services in order) or nobody (services.sh's detached processes), not them directly.
            process = subprocess.Popen(command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                       env=environment or dict(os.environ), cwd=REPO, start_new_session=True)
        self.children[name] = process
        self.state[name] = {"pid": process.pid, "log": str(err), "out": str(out)}
        return process

    def _start_devnet(self):
        if any(self.running(n) for n in NODES):
            self.down(NODES)  # nodes of the previous devnet: they would report to nothing
        self._prepare()
        data = self.directory / "devnet-data"
        if data.exists():
            shutil.rmtree(data)  # a new devnet is a fresh chain (as `docker-compose down -v`)
        ports = self.state["ports"]
        log.info("starting the devnet (chain :%d, oracle :%d)", ports["chain"], ports["oracle"])
        process = self._spawn("devnet", ["devnet", "--chain-port", str(ports["chain"]), "--oracle-port",
                                         str(ports["oracle"]), "--data-dir", str(self.directory / "devnet-data")])
        entry = self.state["devnet"]
        words = wait_ready("devnet", entry["out"], lambda: process.poll() is None, entry["log"])
        entry.update(chain=words[words.index("chain") + 1], oracle=words[words.index("oracle") + 1],
                     keys=[line.split()[-1] for line in open(entry["out"]) if line.lstrip().startswith("[")])
        log.info("devnet ready: chain %s, oracle %s, %d funded keys", entry["chain"], entry["oracle"],
                 len(entry["keys"]))
        self._save()

    def _launch_node(self, name):
        devnet, ports = self.state["devnet"], self.state["ports"]
        other = "node-b" if name == "node-a" else "node-a"
        key = devnet["keys"][NODES.index(name)]
        blocks = self.state["blocks"][name]
        environment = {k: v for k, v in os.environ.items() if k not in NODE_SETTINGS}
        environment["PLUMISE_PRIVATE_KEY"] = key  # in the environment, not in `ps`
        log.info("starting %s (blocks %d:%d, shard port %d)", name, *blocks, ports[name])
        process = self._spawn(name, [
            "serve", "--env-file", "/dev/null", "--model", self.state["model"], "--threads", "1",
            "--host", "127.0.0.1", "--port", str(ports[name]), "--api-port", "0", "--blocks", "%d:%d" % tuple(blocks),
            "--peers", f"127.0.0.1:{ports[other]}", "--rpc-url", devnet["chain"], "--oracle-url", devnet["oracle"],
            "--report-interval", "10"], environment)
        self.state[name].update(blocks=blocks, key_index=NODES.index(name))
        return name, process

    def _await_node(self, name, process):
        entry = self.state[name]
        words = wait_ready(name, entry["out"], lambda: process.poll() is None, entry["log"])
        entry.update(address=words[0], api=f"http://127.0.0.1:{words[2]}")
        log.info("%s ready: shard %s, API %s", name, entry["address"], entry["api"])

    def down(self, names=ORDER):
        """Stops the named services (nodes first, so their final reports reach the oracle)."""
        wanted = {ALIASES.get(n, n) for n in names}
        if "devnet" in wanted:
            wanted |= set(NODES)  # nodes without their devnet are of no use
        for name in reversed(ORDER):
            if name in wanted and name in self.state:
                if self.running(name):
                    log.info("stopping %s (pid %d)", name, self.state[name]["pid"])
                stop_pid(self.state[name]["pid"])
                if name in self.children:
                    self.children.pop(name).wait()
                self.state[name] = dict(self.state[name], stopped=True)
        if self.state:
            self._save()

    # -- what runs

    def health(self, name):
        """A one-line health check of a running service."""
        entry = self.state[name]
        try:
            if name == "devnet":
                chain = requests.post(entry["chain"], timeout=5, json={
                    "jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).json()["result"]
                oracle = requests.get(entry["oracle"] + "/health", timeout=5)
                return f"chain id {int(chain, 16)}; oracle /health HTTP {oracle.status_code} {oracle.text.strip()[:60]}"
            answer = requests.get(entry["api"] + "/health", timeout=5)
            body = answer.json()
            layers = body.get("layers")
            served = f", blocks {layers['start']}:{layers['end']} of {layers['total']}" if layers else ""
            return f"/health HTTP {answer.status_code} {body.get('status')}, model {body.get('model')}{served}"
        except (requests.RequestException, ValueError, KeyError) as error:
            return f"unhealthy: {error}"

    def status_lines(self):
        lines = [f"state {self.directory}" + (f", model {self.state['model']}" if self.state.get("model") else "")]
        for name in ORDER:
            entry = self.state.get(name)
            if not entry:
                lines.append(f"  {name:7} not started")
            elif not self.running(name):
                lines.append(f"  {name:7} stopped (log {entry['log']})")
            elif name == "devnet":
                lines.append(f"  devnet  pid {entry['pid']}  chain {entry['chain']}  oracle {entry['oracle']}\n"
                             f"          health: {self.health(name)}")
            else:
                lines.append(f"  {name}  pid {entry['pid']}  blocks {entry['blocks'][0]}:{entry['blocks'][1]}  "
                             f"shard {entry['address']}  API {entry['api']}\n          health: {self.health(name)}")
        return lines

    def log_paths(self, names=ORDER):
        wanted = [ALIASES.get(n, n) for n in names]
        return [self.state[n]["log"] for n in wanted if n in self.state]


# ---------------------------------------------------------------- command line (services.sh)


USAGE = """usage: Tests/e2e/services.sh COMMAND
  up [oracle|node-a|node-b ...]   start the services (all by default; a node starts the devnet first)
  status                          pids, ports, URLs and health checks
  logs [-f] [-n N] [service ...]  the services' logs (the last N lines; -f follows)
  env                             the E2E_* variables, as export lines (pytest reuses running services anyway)
  down [service ...]              stop them (all by default); logs stay in the state directory
Settings: MODEL_NAME, NUM_BLOCKS, E2E_BIN, E2E_SERVICES_DIR (default logs/services)."""


def main(arguments):
    logging.basicConfig(level=logging.INFO, format="services: %(message)s")
    if not arguments or arguments[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if arguments else 2
    command, rest = arguments[0], arguments[1:]
    services = Services(SERVICES_DIR)
    try:
        if command == "up":
            services.up(rest or ORDER)
            print("\n".join(services.status_lines()))
            print(f"pytest reuses these services while they run (state {services.state_path})")
        elif command == "down":
            services.down(rest or ORDER)
            print(f"stopped; logs stay in {services.directory}")
        elif command == "status":
            print("\n".join(services.status_lines()))
            return 0 if services.complete() else 1
        elif command == "env":
            print(services.env_path.read_text() if services.env_path.exists() else "", end="")
        elif command == "logs":
            return show_logs(services, rest)
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except ServiceError as error:
        print(f"services: {error}", file=sys.stderr)
        return 1
    return 0


def show_logs(services, arguments):
    follow, lines, names = False, 100, []
    items = iter(arguments)
    for item in items:
        if item in ("-f", "--follow"):
            follow = True
        elif item in ("-n", "--tail"):
            lines = int(next(items, "100"))
        else:
            names.append(item)
    paths = services.log_paths(names or ORDER)
    if not paths:
        print(f"services: no logs in {services.directory} (run services.sh up first)", file=sys.stderr)
        return 1
    os.execvp("tail", ["tail", "-n", str(lines)] + (["-F"] if follow else []) + paths)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
