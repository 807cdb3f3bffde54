"""Registration through precompile 0x21, checked on the devnet and by decoding the node's raw
transactions independently with eth-account; heartbeats; no second registration on restart."""
import pytest
import requests
import rlp
from eth_account import Account
from eth_utils import keccak

from conftest import CHAIN_ID, HEARTBEAT, REGISTER, Node, RecordingProxy, dev_key, env, rpc, wait_until


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


def test_a_node_registers_once_sends_heartbeats_and_does_not_register_again(chain):
    key = dev_key(3)
    agent = Account.from_key(key).address
    assert rpc("agent_isAgentAccount", agent, "latest") is False

    node = Node("registering", [], key=key, rpc_url=chain.url)
    try:
        wait_until("registration", lambda: rpc("agent_isAgentAccount", agent, "latest"), timeout=30)
        model_name = requests.get(node.api + "/health", timeout=10).json()["model"]

        # The raw transaction, decoded without the node's code.
        [tx] = transactions_to(chain, REGISTER, agent)
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
    again = Node("registering-again", [], key=key, rpc_url=chain.url)
    try:
        wait_until("the registration check", lambda: "already registered" in again.logged(), timeout=30)
        assert len(transactions_to(chain, REGISTER, agent)) == 1
    finally:
        assert again.stop() == 0, again.logged()


def heartbeat_of(agent):
    meta = rpc("agent_getAgentMeta", agent, "latest")
    return int(str(meta["lastHeartbeat"]), 0)
