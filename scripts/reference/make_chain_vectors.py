#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/chain/vectors.json with eth-account, the independent reference.

Usage: scripts/reference/make_chain_vectors.sh   (creates a throwaway venv with pinned packages)

Records: addresses (EIP-55) of fixed keys, EIP-191 personal_sign signatures of the oracle's
canonical report string, signed legacy EIP-155 transactions (chain id 41956) to the Plumise
precompiles 0x20/0x21/0x22 and to RewardPool 0x1000 (claimReward), ABI call data of the calls the
node makes, and keccak256 vectors. Signatures are deterministic (RFC 6979), so the Swift tests
must reproduce every byte.
"""
import json, os
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address
from eth_abi import encode as abi_encode

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "chain", "vectors.json")
CHAIN_ID = 41956

KEYS = [
    "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
    "0x0000000000000000000000000000000000000000000000000000000000000001",
    "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
    "0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f",
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcaee784d7bf4f2ff80"[:66],
]

def hexs(b):
    return "0x" + bytes(b).hex()

def selector(signature):
    return keccak(text=signature)[:4]

def register_payload(name, model_hash, capabilities):
    raw = name.encode("utf-8")[:32]
    out = raw + b"\0" * (32 - len(raw)) + model_hash + len(capabilities).to_bytes(32, "big")
    for cap in capabilities:
        out += cap
    return out

def verify_payload(model_hash, input_hash, output_hash, agent, tokens):
    return model_hash + input_hash + output_hash + b"\0" * 12 + bytes.fromhex(agent[2:]) + tokens.to_bytes(32, "big")

def main():
    vectors = {"about": {"generator": "scripts/reference/make_chain_vectors.py",
                         "reference": "eth-account (see scripts/reference/requirements-chain.txt)",
                         "chain_id": CHAIN_ID}}
    vectors["keccak256"] = [
        {"input_hex": "", "hash": hexs(keccak(b""))},
        {"input_hex": hexs(b"abc")[2:], "hash": hexs(keccak(b"abc"))},
        {"input_hex": hexs(bytes(range(136)))[2:], "hash": hexs(keccak(bytes(range(136))))},
        {"input_hex": hexs(bytes(range(135)))[2:], "hash": hexs(keccak(bytes(range(135))))},
        {"input_hex": hexs(bytes(i % 251 for i in range(137)))[2:], "hash": hexs(keccak(bytes(i % 251 for i in range(137))))},
        {"input_repeat": "a", "count": 1000000, "hash": hexs(keccak(b"a" * 1000000))},
    ]
    accounts = []
    for key in KEYS:
        acct = Account.from_key(key)
        accounts.append({"private_key": key, "address": acct.address})
    vectors["accounts"] = accounts

    signatures = []
    for i, key in enumerate(KEYS):
        acct = Account.from_key(key)
        message = json.dumps({"agent": acct.address, "processed_tokens": 1234 * (i + 1), "timestamp": 1700000000 + i},
                             separators=(",", ":"))
        signed = Account.sign_message(encode_defunct(text=message), private_key=key)
        signatures.append({"private_key": key, "message": message, "signature": hexs(signed.signature),
                           "hash": hexs(signed.message_hash)})
    signatures.append({"private_key": KEYS[0], "message": "", "signature":
                       hexs(Account.sign_message(encode_defunct(text=""), private_key=KEYS[0]).signature),
                       "hash": hexs(encode_defunct(text="").body)})
    vectors["personal_sign"] = signatures

    model_hash = keccak(text="SmolLM2-135M-Instruct")
    input_hash = keccak(text="The capital of France is")
    output_hash = keccak(text=" Paris.")
    agent = Account.from_key(KEYS[0]).address
    calls = {
        "getPendingReward(address)": selector("getPendingReward(address)") + abi_encode(["address"], [agent]),
        "claimReward()": selector("claimReward()"),
        "getContribution(address)": selector("getContribution(address)") + abi_encode(["address"], [agent]),
        "getCurrentEpoch()": selector("getCurrentEpoch()"),
        "isRegistered(address)": selector("isRegistered(address)") + abi_encode(["address"], [agent]),
        "isActive(address)": selector("isActive(address)") + abi_encode(["address"], [agent]),
        "getAgent(address)": selector("getAgent(address)") + abi_encode(["address"], [agent]),
    }
    vectors["abi_calls"] = [{"signature": sig, "argument": agent, "data": hexs(data)} for sig, data in calls.items()]
    vectors["abi_results"] = [{
        "types": ["uint256", "uint256", "uint256", "uint256"], "values": [7, 3600, 95, 1700000123],
        "data": hexs(abi_encode(["uint256", "uint256", "uint256", "uint256"], [7, 3600, 95, 1700000123]))}]

    txs = []
    cases = [
        ("register", "0x0000000000000000000000000000000000000021",
         register_payload("SmolLM2-135M-Ins-f362318a", model_hash, [keccak(text="text-generation")]), 300000),
        ("register_long_name", "0x0000000000000000000000000000000000000021",
         register_payload("a-very-long-agent-name-that-is-over-32-bytes-é", model_hash, []), 300000),
        ("heartbeat", "0x0000000000000000000000000000000000000022", b"", 100000),
        ("verify_inference", "0x0000000000000000000000000000000000000020",
         verify_payload(model_hash, input_hash, output_hash, agent, 42), 200000),
        ("claim_reward", "0x0000000000000000000000000000000000001000", selector("claimReward()"), 200000),
    ]
    for n, (name, to, data, gas) in enumerate(cases):
        for key in (KEYS[0], KEYS[3]):
            tx = {"nonce": n * 3 + (0 if key == KEYS[0] else 300), "gasPrice": 1000000000 + n, "gas": gas,
                  "to": to_checksum_address(to), "value": 0 if name != "heartbeat" else 5, "data": data,
                  "chainId": CHAIN_ID}
            signed = Account.sign_transaction(tx, key)
            raw = getattr(signed, "raw_transaction", None) or signed.rawTransaction
            txs.append({"name": name, "private_key": key, "nonce": tx["nonce"], "gas_price": tx["gasPrice"],
                        "gas": gas, "to": to, "value": tx["value"], "data": hexs(data), "chain_id": CHAIN_ID,
                        "raw": hexs(raw), "hash": hexs(signed.hash), "v": signed.v,
                        "r": hex(signed.r), "s": hex(signed.s), "sender": Account.from_key(key).address})
    vectors["transactions"] = txs
    with open(OUT, "w") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", OUT)

if __name__ == "__main__":
    main()
