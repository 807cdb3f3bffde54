"""A node on a network that behaves as the real Plumise network does (the devnet replicates
mikusnuz/plumise-oracle and plumise-contracts; see docs/ARCHITECTURE.md, wire facts): it
registers on chain, is listed by the oracle with its endpoint and capabilities, gets every report
accepted with its proofs (a generation of no tokens included), and leaves reward claims to the
oracle's sponsored 0x23 cycle instead of racing it.

The module runs its own devnet with short epochs and a short sponsored-claim cycle, so rewards
flow within the test."""
import os
import re
import subprocess
import threading
import time

import pytest
import requests
import rlp
from eth_account import Account

from conftest import (BIN, LOG_DIR, MODEL_ID, PROOF_KEYS, Node, RecordingProxy, hash_text, requires_default_model, rpc,
                      wait_until)

CLAIM = "0x0000000000000000000000000000000000000023"


class Devnet:
    """A private `plumise-petals devnet` process."""

    def __init__(self, *args):
        self.data = os.path.join(LOG_DIR, f"network-devnet-{int(time.time() * 1000)}")
        self.log = open(self.data + ".log", "w")
        self.process = subprocess.Popen([BIN, "devnet", "--chain-port", "0", "--oracle-port", "0", "--data-dir", self.data,
                                         "--watch-pid", str(os.getpid()), *args],
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.lines = []
        ready = threading.Event()

        def read():
            for line in self.process.stdout:
                self.lines.append(line)
                if line.startswith("devnet ready "):
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(60), "the devnet did not start:\n" + "".join(self.lines)
        ready_line = next(l for l in self.lines if l.startswith("devnet ready "))
        words = ready_line.split()  # devnet ready chain <url> oracle <url>
        self.chain_url, self.oracle_url = words[3], words[5]
        self.keys = re.findall(r"0x[0-9a-fA-F]{64}", "".join(self.lines))

    def oracle(self, path):
        answer = requests.get(self.oracle_url + path, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def stop(self):
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


@pytest.fixture(scope="module")
def network():
    devnet = Devnet("--epoch-seconds", "10", "--sponsored-claim-seconds", "15")
    chain = RecordingProxy(devnet.chain_url)
    oracle = RecordingProxy(devnet.oracle_url)
    key = devnet.keys[4]
    node = Node("network", ["--reward-check-interval", "3"], key=key, rpc_url=chain.url, oracle_url=oracle.url)
    yield devnet, chain, oracle, node
    node.stop()
    chain.down()
    oracle.down()
    devnet.stop()


def sent_by(chain, agent):
    """The node's raw transactions: (to, data)."""
    sent = []
    for raw in chain.raw_transactions():
        if Account.recover_transaction(raw) == agent:
            fields = rlp.decode(raw)
            sent.append(("0x" + fields[3].hex(), fields[5]))
    return sent


def test_the_node_registers_on_chain_with_the_two_parameter_queries(network):
    devnet, chain, _, node = network
    wait_until("registration", lambda: rpc("agent_isAgentAccount", node.agent, "latest", url=devnet.chain_url), timeout=60)
    calls = [r for _, r, _, _ in chain.recorded() if isinstance(r, dict) and r.get("method", "").startswith("agent_")]
    assert calls, "the node asks the chain about itself"
    for call in calls:
        if call["method"] in ("agent_isAgentAccount", "agent_getAgentMeta"):
            assert call["params"][1] == "latest", call
    status = rpc("agent_getStatus", node.agent, url=devnet.chain_url)
    assert status["registered"] is True and "status" not in status


def test_the_oracle_lists_the_node_with_its_endpoint_and_capabilities(network):
    devnet, _, _, node = network
    listed = wait_until("the node in /api/nodes", lambda: next(
        (n for n in devnet.oracle("/api/nodes")["nodes"] if n["address"].lower() == node.agent.lower() and n["endpoint"]), None),
        timeout=60)
    assert listed["endpoint"] == node.api
    assert listed["capabilities"] == ["inference", MODEL_ID]
    # Listed as a standalone node (capabilities name the model) until its pipeline entry is ready.
    topology = wait_until("the node's pipeline entry ready in the topology", lambda: [
        n for n in devnet.oracle("/api/v1/pipeline/topology?model=" + MODEL_ID)["nodes"]
        if n["nodeAddress"].lower() == node.agent.lower() and n["ready"] and not n["grpcEndpoint"].startswith("standalone://")],
        timeout=60)
    assert topology[0]["httpEndpoint"] == node.api
    assert topology[0]["grpcEndpoint"] == "http://" + node.address.split("://")[-1]
    health = requests.get(node.api + "/health", timeout=10).json()
    assert health["mode"] == "single" and health["address"] == node.agent and health["model"] == MODEL_ID


# How long the node serves in the report test (environment E2E_NETWORK_SECONDS): long enough for
# many report rounds, epochs and sponsored claims.
RUN_SECONDS = float(os.environ.get("E2E_NETWORK_SECONDS", "90"))
PROMPTS = ["The capital of France is", "Water boils at", "Once upon a time", "The sky is"]
# An answer already given in full: greedy decoding ends it at once (0 new tokens).
FINISHED = "<|im_start|>user\nSay OK.<|im_end|>\n<|im_start|>assistant\nOK."


@requires_default_model  # a prompt the default model ends at once (a generation of no tokens)
def test_every_report_is_accepted_with_its_proofs_including_a_generation_of_no_tokens(network):
    devnet, _, oracle, node = network
    wait_until("registration", lambda: rpc("agent_isAgentAccount", node.agent, "latest", url=devnet.chain_url), timeout=60)
    made = 0
    rounds = 0
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline or rounds < 2:
        output = node.generate(PROMPTS[rounds % len(PROMPTS)], max_new_tokens=4)
        made += output["num_tokens"] > 0
        if rounds % 3 == 0:
            empty = requests.post(node.api + "/api/v1/generate", timeout=60, json={
                "inputs": FINISHED, "parameters": {"max_new_tokens": 4, "do_sample": False}}).json()
            assert empty["num_tokens"] == 0, empty
        rounds += 1
        time.sleep(10)
    wait_until("the proofs reach the oracle", lambda: len(proofs_sent(oracle)) >= made, timeout=60)
    statuses = [status for _, _, status, _ in oracle.recorded("/api/v1/metrics/report")]
    assert len(statuses) >= RUN_SECONDS // 10 - 2 and all(status == 201 for status in statuses), statuses
    proofs = proofs_sent(oracle)
    assert len(proofs) == made, "one proof per generation that made tokens, each sent once"
    for proof in proofs:
        assert set(proof) == PROOF_KEYS and proof["tokenCount"] >= 1
        assert proof["modelHash"] == hash_text(MODEL_ID)
    stored = devnet.oracle(f"/api/v1/proofs/{node.agent}?limit=1000")
    assert stored["count"] == made
    for path in ("/api/nodes/register", "/api/v1/pipeline/register", "/api/v1/pipeline/ready"):
        assert oracle.recorded(path) and all(status == 201 for _, _, status, _ in oracle.recorded(path)), oracle.recorded(path)


def proofs_sent(oracle):
    return [p for _, r, status, _ in oracle.recorded("/api/v1/metrics/report") if status == 201 for p in (r.get("proofs") or [])]


def test_rewards_are_claimed_by_the_oracles_sponsored_cycle_not_raced(network):
    devnet, chain, _, node = network
    wait_until("registration", lambda: rpc("agent_isAgentAccount", node.agent, "latest", url=devnet.chain_url), timeout=60)
    total = lambda: int(rpc("agent_getStatus", node.agent, url=devnet.chain_url)["totalRewards"], 16)
    wait_until("a sponsored claim paid the node", lambda: total() > 0, timeout=120, interval=1)
    claims = [data for to, data in sent_by(chain, node.agent) if to == CLAIM]
    assert claims == [], "the node left the claim to the oracle"
