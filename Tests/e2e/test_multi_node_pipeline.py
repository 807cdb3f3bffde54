"""Two nodes splitting the model (A: blocks 0-14, B: 15-29, started by run_e2e.sh) and a
replicated pair started here to be killed mid-generation."""
import json
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import Node, address_of, dev_key, env, established_connections, local_greedy, oracle_agent_metrics, oracle_get, wait_until


class Running:
    """A node started by run_e2e.sh, known by its API URL and key."""

    def __init__(self, api, key):
        self.api = api
        self.key = key

    def generate(self, prompt, max_new_tokens=8):
        answer = requests.post(self.api + "/api/v1/generate", timeout=300, json={
            "inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens, "do_sample": False}})
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def node_a():
    return Running(env("E2E_NODE_A_API"), dev_key(0))


@pytest.fixture(scope="module")
def node_b():
    return Running(env("E2E_NODE_B_API"), dev_key(1))


def test_the_pipeline_gives_the_single_process_greedy_output(node_a, node_b):
    prompt = "The three primary colors are"
    expected = local_greedy(prompt, 16)
    assert node_a.generate(prompt, 16)["generated_text"] == expected
    assert node_b.generate(prompt, 16)["generated_text"] == expected


def test_both_nodes_report_to_the_oracle_under_their_own_address(node_a, node_b):
    node_a.generate("Node A counts this", 4)
    node_b.generate("Node B counts this", 4)
    agents = [address_of(node.key) for node in (node_a, node_b)]
    assert agents[0] != agents[1]
    for agent in agents:
        metrics = wait_until(f"an accepted report from {agent}",
                             lambda: (oracle_agent_metrics(agent) or {}).get("requestCount"),
                             timeout=40)
        assert metrics >= 1
    listed = {n["address"].lower() for n in oracle_get("/api/nodes")["nodes"]}
    assert {a.lower() for a in agents} <= listed


def test_ten_concurrent_requests_all_complete_correctly(node_a):
    prompts = ["Paris is", "The sun rises in the"] * 5
    expected = {p: local_greedy(p, 8) for p in set(prompts)}
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda p: node_a.generate(p, 8), prompts))
    assert [a["generated_text"] for a in answers] == [expected[p] for p in prompts]


def test_killing_a_server_with_a_live_replica_mid_generation_changes_nothing(started):
    prompt = "Once upon a time, in a small village by the sea,"
    expected = local_greedy(prompt, 48)  # 48 tokens, no early end of text
    replicas = [Node(f"replica-{i}", ["--shard-only", "--blocks", "15:30"]) for i in (1, 2)]
    started.extend(replicas)
    head = Node("head", ["--blocks", "0:15", "--peers", ",".join(r.address for r in replicas)], key=dev_key(5))
    started.append(head)

    # Stream, and once tokens flow kill whichever replica holds the session.
    pieces, killed, final = [], None, None
    with requests.post(head.api + "/api/v1/generate", stream=True, timeout=300, json={
            "inputs": prompt, "parameters": {"max_new_tokens": 48, "do_sample": False}, "stream": True}) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines(decode_unicode=True):
            if not line or not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if "generated_text" in event:
                final = event
                continue
            pieces.append(event)
            if killed is None and len(pieces) == 8:
                killed = next((r for r in replicas if established_connections(r.shard_port) > 0), None)
                assert killed is not None, "no replica holds the session"
                killed.process.send_signal(signal.SIGKILL)
    assert killed is not None, f"only {len(pieces)} pieces streamed"
    assert final is not None, "the stream ended without its final event"
    assert final["generated_text"] == expected and final["num_tokens"] == 48
    assert "rerouting" in head.logged() or "failed" in head.logged(), head.logged()
