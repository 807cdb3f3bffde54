"""A node holding every block: health, generation, metrics, and what reaches the oracle."""
import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_defunct

from conftest import (Node, RecordingProxy, canonical_message, dev_key, env, hash_text, local_greedy,
                      oracle_agent_metrics, oracle_get, wait_until, MODEL_ID, PROOF_KEYS)

PROMPTS = ["The capital of France is", "Water boils at", "Once upon a time"]


@pytest.fixture(scope="module")
def node(oracle):
    node = Node("single", [], key=dev_key(2), oracle_url=oracle.url)
    yield node
    assert node.stop() == 0, node.logged()


def test_health_names_the_model(node):
    answer = requests.get(node.api + "/health", timeout=10)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["model"]


def test_generation_is_the_greedy_continuation(node):
    answer = node.generate(PROMPTS[0], max_new_tokens=12)
    assert answer["generated_text"] == local_greedy(PROMPTS[0], 12)
    assert answer["num_tokens"] == 12


def test_metrics_and_the_signed_reports_count_every_request_with_a_proof(node, oracle):
    before = node.metrics()
    outputs = [node.generate(prompt, max_new_tokens=6) for prompt in PROMPTS]
    after = node.metrics()
    tokens = sum(o["num_tokens"] for o in outputs)
    assert after["plumise_requests_total"] - before["plumise_requests_total"] == len(PROMPTS)
    assert after["plumise_tokens_processed_total"] - before["plumise_tokens_processed_total"] == tokens

    # The oracle accepts reports until one carries the node's totals.
    total_requests = after["plumise_requests_total"]
    report = wait_until("a report with every request",
                        lambda: next((r for r in reversed(oracle.accepted_reports())
                                      if r["requestCount"] == total_requests), None), timeout=40)
    assert report["wallet"] == node.agent
    assert report["tokensProcessed"] == after["plumise_tokens_processed_total"]
    signer = Account.recover_message(encode_defunct(text=canonical_message(report)), signature=report["signature"])
    assert signer == node.agent

    # One proof per request, each bound to this agent, prompt and output.
    proofs = [p for r in oracle.accepted_reports() for p in r.get("proofs") or []]
    for prompt, output in zip(PROMPTS, outputs):
        matching = [p for p in proofs if p["inputHash"] == hash_text(prompt)
                    and p["outputHash"] == hash_text(output["generated_text"])]
        assert len(matching) == 1, (prompt, proofs)
        proof = matching[0]
        assert set(proof) == PROOF_KEYS, "the oracle forbids any other key"
        assert proof["modelHash"] == hash_text(MODEL_ID)
        assert proof["tokenCount"] == output["num_tokens"]

    # The oracle stored the same totals and proofs.
    stored = oracle_agent_metrics(node.agent)
    assert stored["requestCount"] == total_requests
    assert stored["tokensProcessed"] == after["plumise_tokens_processed_total"]
    stored_inputs = {p["inputHash"] for p in oracle_get(f"/api/v1/proofs/{node.agent}?limit=100")["proofs"]}
    assert {hash_text(p) for p in PROMPTS} <= stored_inputs
