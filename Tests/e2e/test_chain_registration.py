"""Registration through precompile 0x21, checked on the devnet and by decoding the node's raw
transactions independently with eth-account; heartbeats; no second registration on restart."""
import pytest
import requests
import rlp
from eth_account import Account
from eth_utils import keccak

from conftest import CHAIN_ID, HEARTBEAT, REGISTER, Node, RecordingProxy, env, fresh_key, rpc, wait_until


def decode(raw):
    """A legacy EIP-155 transaction: its fields, chain id and recovered sender."""
    nonce, gas_price, gas, to, value, data, v, r, s = rlp.decode(raw)
    v = int.from_bytes(v, "big")
    return {"to": "0x" + to.hex(), "data": data, "gas": int.from_bytes(gas, "big"),
            "chain_id": (v - 35) // 2, "sender": Account.recover_transaction(raw)}


def transactions_to(proxy, target, sender):
    return [tx for tx in map(decode, proxy.raw_transactions()) if tx["to"] == target and tx["sender"] == sender]


@pytest.fixture(scope="module")
def chain():
    proxy = RecordingProxy(env("E2E_CHAIN_URL"))
    yield proxy
    proxy.down()


@pytest.fixture(scope="module")
def no_oracle():
    """The dev oracle with its two registration endpoints refused (503). When a node that is not
    yet an agent registers there, the oracle sponsors its on-chain registration under another name
    ("agent-…", "plumise-agent"), racing the node's own 0x21 transaction; the node announces itself
    as soon as it serves, so with a small model that loads at once the oracle often wins. These
    tests are about the node's own registration; its reports still reach the oracle."""
    proxy = RecordingProxy(env("E2E_ORACLE_URL"), refuse=("/api/nodes/register", "/api/v1/pipeline/register"))
    yield proxy.url
    proxy.down()


class TestChainRegistration:
    def test_a_node_registers_once_sends_heartbeats_and_does_not_register_again(self, chain, no_oracle):
        key = fresh_key()
        agent = Account.from_key(key).address
        assert rpc("agent_isAgentAccount", agent, "latest") is False

        node = Node("registering", [], key=key, rpc_url=chain.url, oracle_url=no_oracle)
        try:
            wait_until("registration", lambda: rpc("agent_isAgentAccount", agent, "latest"), timeout=30)
            model_name = requests.get(node.api + "/health", timeout=10).json()["model"]

            # The raw transaction, decoded without the node's code. The proxy records an exchange
            # once the chain has answered it, so the chain may know the agent a moment before.
            [tx] = wait_until("the 0x21 transaction at the proxy", lambda: transactions_to(chain, REGISTER, agent),
                              timeout=10)
            assert tx["chain_id"] == CHAIN_ID
            assert tx["gas"] == 300000
            name = tx["data"][:32].rstrip(b"\0").decode()
            assert name.endswith("-" + agent[-8:].lower()), name
            assert tx["data"][32:64] == keccak(text=model_name)
            assert int.from_bytes(tx["data"][64:96], "big") == 1
            assert tx["data"][96:128] == keccak(text="text-generation")
            assert len(tx["data"]) == 128

            meta = rpc("agent_getAgentMeta", agent, "latest")
            assert name in str(meta), meta

            # Heartbeats (every 3 s here) reach 0x22 and move lastHeartbeat forward.
            first = wait_until("a heartbeat", lambda: transactions_to(chain, HEARTBEAT, agent), timeout=30)
            assert first[0]["chain_id"] == CHAIN_ID and first[0]["data"] == b""
            beat = heartbeat_of(agent)
            wait_until("a later heartbeat", lambda: heartbeat_of(agent) > beat, timeout=30)
        finally:
            assert node.stop() == 0, node.logged()

        # A second start with the same key finds the agent registered and sends no 0x21 again.
        again = Node("registering-again", [], key=key, rpc_url=chain.url, oracle_url=no_oracle)
        try:
            wait_until("the registration check", lambda: "already registered" in again.logged(), timeout=30)
            assert len(transactions_to(chain, REGISTER, agent)) == 1
        finally:
            assert again.stop() == 0, again.logged()

    def test_register_success(self, chain, no_oracle):
        """A node with a new funded key registers itself: its 0x21 transaction is mined with
        status 1 at the chain id, and the chain then knows it as a registered, active agent
        under the name it sent."""
        key = fresh_key()
        agent = Account.from_key(key).address
        assert rpc("agent_isAgentAccount", agent, "latest") is False
        balance = int(rpc("eth_getBalance", agent, "latest"), 16)

        node = Node("register-success", [], key=key, rpc_url=chain.url, oracle_url=no_oracle)
        try:
            wait_until("registration", lambda: rpc("agent_isAgentAccount", agent, "latest"), timeout=30)
            # The proxy records the exchange once the chain has answered it: wait for it too.
            raw = wait_until("the 0x21 transaction at the proxy", lambda: next(
                (r for r in chain.raw_transactions() if decode(r)["to"] == REGISTER and decode(r)["sender"] == agent),
                None), timeout=10)
            receipt = rpc("eth_getTransactionReceipt", "0x" + keccak(raw).hex())
            assert receipt is not None and int(receipt["status"], 16) == 1, receipt
            assert receipt["to"].lower() == REGISTER and receipt["from"].lower() == agent.lower()
            status = rpc("agent_getStatus", agent)
            assert status["registered"] is True and status["active"] is True, status
            name = decode(raw)["data"][:32].rstrip(b"\0").decode()
            assert rpc("agent_getAgentMeta", agent, "latest")["name"] == name
            assert int(rpc("eth_getBalance", agent, "latest"), 16) < balance  # it paid the gas
        finally:
            assert node.stop() == 0, node.logged()


def heartbeat_of(agent):
    meta = rpc("agent_getAgentMeta", agent, "latest")
    return int(str(meta["lastHeartbeat"]), 0)
