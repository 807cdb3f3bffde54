"""Two nodes splitting the model (A: blocks 0:NUM_BLOCKS, B: the rest; the session's services)
and a replicated pair started here to be killed mid-generation."""
import json
import signal
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import (Node, address_of, established_connections, fresh_key, local_greedy, oracle_agent_metrics,
                      oracle_get, pipeline_blocks, requires_default_model, wait_until)


class TestMultiNodePipeline:
    def test_the_pipeline_gives_the_single_process_greedy_output(self, node_a, node_b):
        prompt = "The three primary colors are"
        expected = local_greedy(prompt, 16)
        assert node_a.generate(prompt, 16)["generated_text"] == expected
        assert node_b.generate(prompt, 16)["generated_text"] == expected

    def test_both_nodes_report_to_the_oracle_under_their_own_address(self, node_a, node_b):
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

    def test_ten_concurrent_requests_all_complete_correctly(self, node_a):
        prompts = ["Paris is", "The sun rises in the"] * 5
        expected = {p: local_greedy(p, 8) for p in set(prompts)}
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(lambda p: node_a.generate(p, 8), prompts))
        assert [a["generated_text"] for a in answers] == [expected[p] for p in prompts]

    def test_concurrent_inference_requests(self, node_a, node_b):
        """Requests entering the pipeline at both ends at once (A runs its blocks then B's, B
        asks A for the first blocks) all give the single-process output, and each node counts
        the requests it answered."""
        prompts = ["Rain falls from", "A cat likes to", "Bread is made of", "The moon orbits"]
        expected = {p: local_greedy(p, 8) for p in prompts}
        requests_before = [node.metrics()["plumise_requests_total"] for node in (node_a, node_b)]
        jobs = [(node, p) for p in prompts for node in (node_a, node_b)]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            answers = list(pool.map(lambda job: job[0].generate(job[1], 8), jobs))
        assert [a["generated_text"] for a in answers] == [expected[p] for _, p in jobs]
        assert all(a["num_tokens"] >= 1 for a in answers)
        for node, before in zip((node_a, node_b), requests_before):
            assert node.metrics()["plumise_requests_total"] - before == len(prompts)

    @requires_default_model
    def test_killing_a_server_with_a_live_replica_mid_generation_changes_nothing(self, started):
        prompt = "Once upon a time, in a small village by the sea,"
        expected = local_greedy(prompt, 48)  # 48 tokens, no early end of text
        first, second = pipeline_blocks()
        replicas = [Node(f"replica-{i}", ["--shard-only", "--blocks", second]) for i in (1, 2)]
        started.extend(replicas)
        head = Node("head", ["--blocks", first, "--peers", ",".join(r.address for r in replicas)], key=fresh_key())
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
