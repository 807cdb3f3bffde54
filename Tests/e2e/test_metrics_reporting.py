"""Signed metrics reports: the signature checked independently, replay refused, and nothing lost
while the oracle is down."""
import json

import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_defunct

from conftest import Node, canonical_message, env, fresh_key, hash_text, wait_until

REPORT = "/api/v1/metrics/report"


@pytest.fixture(scope="module")
def node(oracle):
    node = Node("reporting", [], key=fresh_key(), oracle_url=oracle.url)
    yield node
    assert node.stop() == 0, node.logged()


def post_to_oracle(body):
    answer = requests.post(env("E2E_ORACLE_URL") + REPORT, data=json.dumps(body), timeout=10,
                           headers={"Content-Type": "application/json"})
    return answer.status_code, answer.text


def refused(status, text):
    return status >= 400 or '"error"' in text


class TestMetricsReporting:
    def test_a_report_is_signed_over_the_canonical_string(self, node, oracle):
        output = node.generate("Report this", max_new_tokens=4)
        report = wait_until("an accepted report with the request",
                            lambda: next((r for r in oracle.accepted_reports() if r["requestCount"] >= 1), None), timeout=40)
        assert set(report) >= {"wallet", "tokensProcessed", "avgLatencyMs", "uptimeSeconds", "requestCount",
                               "timestamp", "signature"}
        assert report["wallet"] == node.agent
        assert report["tokensProcessed"] == output["num_tokens"]
        assert report["requestCount"] == 1
        assert report["avgLatencyMs"] > 0
        assert report["uptimeSeconds"] > 0
        message = canonical_message(report)
        assert message == '{"agent":"%s","processed_tokens":%d,"timestamp":%d}' % (
            node.agent, output["num_tokens"], report["timestamp"])
        assert Account.recover_message(encode_defunct(text=message), signature=report["signature"]) == node.agent


    def test_replayed_and_tampered_reports_are_refused(self, node, oracle):
        report = wait_until("an accepted report", lambda: (oracle.accepted_reports() or [None])[-1], timeout=40)
        assert refused(*post_to_oracle(report)), "a replayed report was accepted"
        tampered = dict(report, tokensProcessed=report["tokensProcessed"] + 1000, timestamp=report["timestamp"] + 1)
        assert refused(*post_to_oracle(tampered)), "a report whose signature does not match was accepted"


    def test_reports_resume_after_the_oracle_comes_back_and_no_proof_is_lost(self, node, oracle):
        failures_before = node.metrics()["plumise_report_failures_total"]
        oracle.down()
        try:
            prompts = ["While the oracle was down", "Nothing may be lost"]
            outputs = [node.generate(p, max_new_tokens=4) for p in prompts]
            wait_until("a failed report", lambda: node.metrics()["plumise_report_failures_total"] > failures_before,
                       timeout=40)
            assert node.metrics()["plumise_proofs_pending"] >= len(prompts)
        finally:
            oracle.up()
        total = node.metrics()["plumise_requests_total"]
        wait_until("a report after recovery",
                   lambda: any(r["requestCount"] == total for r in oracle.accepted_reports()), timeout=40)
        proofs = [p for r in oracle.accepted_reports() for p in r.get("proofs") or []]
        for prompt, output in zip(prompts, outputs):
            assert any(p["inputHash"] == hash_text(prompt) and p["outputHash"] == hash_text(output["generated_text"])
                       for p in proofs), f"the proof of {prompt!r} was lost"

    def test_signature_is_valid(self, node, oracle):
        """The signature of an accepted report is a 65-byte EIP-191 signature by the node's key
        over the canonical string: eth-account recovers the wallet from it and, signing the same
        string with the same key (RFC 6979 nonces, as libsecp256k1), makes the same bytes."""
        node.generate("Sign this", max_new_tokens=3)
        report = wait_until("an accepted report with a request",
                            lambda: next((r for r in oracle.accepted_reports() if r["requestCount"] >= 1), None),
                            timeout=40)
        signature = bytes.fromhex(report["signature"].removeprefix("0x"))
        assert report["signature"].startswith("0x") and len(signature) == 65
        assert signature[64] in (27, 28), "v must be 27 or 28 (personal_sign)"
        message = encode_defunct(text=canonical_message(report))
        assert Account.recover_message(message, signature=signature) == node.agent
        assert Account.sign_message(message, private_key=node.key).signature == signature
