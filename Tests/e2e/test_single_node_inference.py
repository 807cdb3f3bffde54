"""A node holding every block: health, generation, metrics, and what reaches the oracle."""
import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_defunct

from conftest import (MODEL_ID, PROOF_KEYS, Node, canonical_message, fresh_key, hash_text, local_greedy,
                      oracle_agent_metrics, oracle_get, requires_default_model, wait_until)

PROMPTS = ["The capital of France is", "Water boils at", "Once upon a time"]
COUNTERS = ("plumise_requests_total", "plumise_tokens_processed_total", "plumise_request_latency_seconds_count",
            "plumise_report_failures_total", "plumise_proofs_pending", "plumise_proofs_dropped_total",
            "plumise_open_sessions")


@pytest.fixture(scope="module")
def node(oracle):
    node = Node("single", [], key=fresh_key(), oracle_url=oracle.url)
    yield node
    assert node.stop() == 0, node.logged()


def own_reports(oracle, node):
    return [r for r in oracle.accepted_reports() if r["wallet"] == node.agent]


class TestSingleNodeInference:
    def test_health_names_the_model(self, node):
        answer = requests.get(node.api + "/health", timeout=10)
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok"
        assert answer.json()["model"]

    @requires_default_model
    def test_generation_is_the_greedy_continuation(self, node):
        answer = node.generate(PROMPTS[0], max_new_tokens=12)
        assert answer["generated_text"] == local_greedy(PROMPTS[0], 12)
        assert answer["num_tokens"] == 12

    def test_metrics_collector_initialization(self, node):
        """The node's metrics start at zero (read before its first request) and from then on
        count exactly what it served."""
        start = node.metrics_at_start
        for name in COUNTERS:
            assert start[name] == 0, (name, start)
        assert start["plumise_uptime_seconds"] >= 0
        assert start["plumise_cache_capacity_bytes"] > 0

        node.generate("Count me", max_new_tokens=3)
        now = node.metrics()
        assert now["plumise_requests_total"] == len(node.served)
        assert now["plumise_request_latency_seconds_count"] == len(node.served)
        assert now["plumise_tokens_processed_total"] == sum(a["num_tokens"] for a in node.served)
        assert now["plumise_request_latency_seconds_sum"] > 0
        assert now["plumise_uptime_seconds"] >= start["plumise_uptime_seconds"]

    def test_oracle_reporter_with_inference_activity(self, node, oracle):
        """Generations spread over two report intervals: each accepted report carries the
        node's cumulative totals at that time and the proofs of the requests since the last one,
        each proof once."""
        waves = [["First wave one", "First wave two"], ["Second wave one"]]
        generated = []  # (prompt, answer)
        for wave in waves:
            generated += [(prompt, node.generate(prompt, max_new_tokens=4)) for prompt in wave]
            served = len(node.served)
            wait_until("a report with this wave", lambda: any(
                r["requestCount"] == served for r in own_reports(oracle, node)), timeout=40)

        reports = own_reports(oracle, node)
        timestamps = [r["timestamp"] for r in reports]
        assert timestamps == sorted(set(timestamps)), "report timestamps must increase strictly"
        for earlier, later in zip(reports, reports[1:]):
            assert later["requestCount"] >= earlier["requestCount"]
            assert later["tokensProcessed"] >= earlier["tokensProcessed"]
        last = reports[-1]
        assert last["requestCount"] == len(node.served)
        assert last["tokensProcessed"] == sum(a["num_tokens"] for a in node.served)

        proofs = [(p["inputHash"], p["outputHash"]) for r in reports for p in r.get("proofs") or []]
        assert len(proofs) == len(set(proofs)), "a proof was sent twice"
        for prompt, answer in generated:
            assert (hash_text(prompt), hash_text(answer["generated_text"])) in proofs, f"no proof of {prompt!r}"

    def test_metrics_and_the_signed_reports_count_every_request_with_a_proof(self, node, oracle):
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
