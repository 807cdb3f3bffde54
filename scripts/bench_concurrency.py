#!/usr/bin/env python3
"""Many users at once: aggregate tokens/s, time to first token and per-token latency of N
concurrent streamed generations through one node's HTTP API, side by side with llama.cpp's
llama-server (continuous batching, -np slots) on the same GGUF file, threads and prompts.

Rounds alternate the servers (a shared machine's drift falls on both); figures are medians
over rounds. Only the Python standard library is used.

  scripts/bench_concurrency.py --concurrency 1,4,16,64 --rounds 2 \\
      --llama-server /opt/llama-ref/build/bin/llama-server [--swarm] [--json out.json]
"""
import argparse
import http.client
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Story openings whose greedy continuations (and those of their "(part N)" variants, N <= 8) run
# the whole 64 tokens without an end-of-text token on the default model: a generation that ends
# early leaves its batch smaller for the rest of the level. run_level checks it.
PROMPTS = [
    "Once upon a time, in a small village by the sea, there lived",
    "The river that ran past our house was",
    "Here is a long story about a dragon who wanted to learn to cook:",
    "In the year 2150, the first city on Mars",
    "The old lighthouse keeper looked out at the stormy sea, and",
    "Write a detailed description of a busy market in the morning:",
    "The scientist opened the strange box and found",
    "A letter to my younger self: Dear",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def wait_http(port, path, deadline):
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            if r.status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


class Server:
    """A child process serving an OpenAI-style /v1/completions on `port`."""

    def __init__(self, name, args, port, health, env=None):
        self.name, self.port = name, port
        self.log_path = os.path.join(tempfile.gettempdir(), f"bench-concurrency-{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        if not wait_http(port, health, time.time() + 300):
            self.stop()
            raise SystemExit(f"{name} did not become ready; see {self.log_path}")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def stream_completion(port, prompt, tokens, extra):
    """One streamed generation: (seconds to first token, token arrival times, token count)."""
    body = dict(prompt=prompt, max_tokens=tokens, temperature=0, stream=True, **extra)
    start = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:300]!r}")
    arrivals = []
    for raw in r:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        event = json.loads(data)
        choices = event.get("choices") or []
        if choices and choices[0].get("text"):
            arrivals.append(time.perf_counter())
    c.close()
    if not arrivals:
        raise RuntimeError("no tokens streamed")
    return arrivals[0] - start, arrivals


def run_level(port, concurrency, tokens, extra):
    results, errors = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)

    def client(i):
        barrier.wait()
        try:
            # Distinct prompts: a numbered variant of the openings.
            prompt = f"{PROMPTS[i % len(PROMPTS)]}" + (f" (part {i // len(PROMPTS) + 1})" if i >= len(PROMPTS) else "")
            outcome = stream_completion(port, prompt, tokens, extra)
            with lock:
                results.append(outcome)
        except Exception as error:  # noqa: BLE001 - reported below
            with lock:
                errors.append(str(error))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} of {concurrency} requests failed: {errors[0]}")
    short = [len(a) for _, a in results if len(a) < tokens]
    if short:
        raise RuntimeError(f"{len(short)} of {concurrency} generations ended before {tokens} tokens ({short}): "
                           "choose prompts that run the whole length, or the level measures smaller batches")
    total = sum(len(a) for _, a in results)
    gaps = [b - a for _, arr in results for a, b in zip(arr, arr[1:])]
    ttft = [t for t, _ in results]
    return dict(concurrency=concurrency, tokens=total, seconds=wall, tokens_per_second=total / wall,
                ttft_p50_ms=percentile(ttft, 50) * 1e3, ttft_p99_ms=percentile(ttft, 99) * 1e3,
                token_latency_p50_ms=percentile(gaps, 50) * 1e3, token_latency_p99_ms=percentile(gaps, 99) * 1e3)


def batch_counters(port):
    """Our node's batches run and the sequences in them so far (its /metrics), or None."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("plumise_batches_total", "plumise_batch_sequences_sum"):
            values[parts[0]] = float(parts[1])
    if len(values) < 2:
        return None
    return values["plumise_batches_total"], values["plumise_batch_sequences_sum"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/plumise-petals"))
    parser.add_argument("--llama-server", help="llama.cpp's llama-server, run with --parallel 16 on the same file")
    parser.add_argument("--parallel", type=int, default=16, help="llama-server slots (-np)")
    parser.add_argument("--swarm", action="store_true", help="also through two shard servers 0:15 + 15:30 on loopback")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]

    key = "0x" + "11" * 32  # a throwaway agent key: no chain or oracle is reachable, the API serves anyway
    dead = "http://127.0.0.1:9"

    def ours(name, extra_args):
        port = free_port()
        cmd = [args.binary, "serve", "--model", args.model, "--threads", str(args.threads), "--private-key", key,
               "--rpc-url", dead, "--oracle-url", dead, "--host", "127.0.0.1", "--port", "0",
               "--api-port", str(port), "--max-sessions", "128"] + extra_args
        return Server(name, cmd, port, "/health")

    systems = {}
    systems["plumise-petals"] = (lambda: ours("ours", []), {})
    if args.swarm:
        def swarm():
            shard_port = free_port()
            shard = subprocess.Popen([args.binary, "serve", "--shard-only", "--model", args.model, "--blocks", "15:30",
                                      "--threads", str(args.threads), "--host", "127.0.0.1", "--port", str(shard_port),
                                      "--max-sessions", "128"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
            shard.stdout.readline()  # "ready <address>"
            node = ours("swarm", ["--blocks", "0:15", "--peers", f"tcp://127.0.0.1:{shard_port}"])
            stop = node.stop

            def stop_both():
                stop()
                os.killpg(shard.pid, signal.SIGTERM)
                shard.wait()
            node.stop = stop_both
            return node
        systems["plumise-petals, 2 servers"] = (swarm, {})
    if args.llama_server:
        def llama():
            port = free_port()
            ctx = args.parallel * 512
            return Server("llama-server", [args.llama_server, "-m", args.model, "-t", str(args.threads), "-tb",
                                           str(args.threads), "-np", str(args.parallel), "-c", str(ctx), "--port",
                                           str(port), "--host", "127.0.0.1", "-cb"], port, "/health")
        # Its batched arithmetic differs from its solo one, so a greedy continuation can meet an
        # end-of-text token before the length; ignore_eos (its own option) keeps every generation
        # at the full length: the same work as ours, whose batched tokens equal its solo ones.
        systems["llama-server"] = (llama, {"ignore_eos": True})

    results = {name: {level: [] for level in levels} for name in systems}
    for round_index in range(args.rounds):
        for name, (start, extra) in systems.items():
            server = start()
            try:
                run_level(server.port, 2, 8, extra)  # warm-up
                for level in levels:
                    before = batch_counters(server.port) if name.startswith("plumise") else None
                    row = run_level(server.port, level, args.tokens, extra)
                    after = batch_counters(server.port) if before else None
                    # How well the node's scheduler batched this level (in a swarm: the node's own blocks).
                    if before and after and after[0] > before[0]:
                        row["sequences_per_batch"] = (after[1] - before[1]) / (after[0] - before[0])
                    results[name][level].append(row)
                    batching = f"  {row['sequences_per_batch']:5.1f} seq/batch" if "sequences_per_batch" in row else ""
                    print(f"round {round_index + 1} {name:28s} c={level:3d}: {row['tokens_per_second']:7.1f} tok/s  "
                          f"ttft p50 {row['ttft_p50_ms']:7.1f} p99 {row['ttft_p99_ms']:7.1f} ms  "
                          f"token p50 {row['token_latency_p50_ms']:6.1f} p99 {row['token_latency_p99_ms']:6.1f} ms"
                          f"{batching}", file=sys.stderr, flush=True)
            finally:
                server.stop()

    def median(name, level, field):
        return statistics.median(r[field] for r in results[name][level])

    fields = ["tokens_per_second", "ttft_p50_ms", "ttft_p99_ms", "token_latency_p50_ms", "token_latency_p99_ms"]
    summary = {name: {str(level): {f: median(name, level, f) for f in fields} for level in levels} for name in systems}
    print(f"\n{args.rounds} rounds, {args.tokens} tokens per request, {args.threads} threads, medians "
          "(shared machine: compare within a row)\n")
    print("| server | concurrent | tokens/s | vs 1 at a time | TTFT p50 / p99 ms | per token p50 / p99 ms |")
    print("|---|---|---|---|---|---|")
    for name in systems:
        single = summary[name][str(levels[0])]["tokens_per_second"]
        for level in levels:
            s = summary[name][str(level)]
            print(f"| {name} | {level} | {s['tokens_per_second']:.1f} | {s['tokens_per_second'] / single:.2f}x | "
                  f"{s['ttft_p50_ms']:.0f} / {s['ttft_p99_ms']:.0f} | "
                  f"{s['token_latency_p50_ms']:.1f} / {s['token_latency_p99_ms']:.1f} |")
    # The machine drifts between rounds: each round's levels against its own single stream.
    print("\n| server | concurrent | vs 1 at a time, per round (median) | sequences per batch (median) |")
    print("|---|---|---|---|")
    for name in systems:
        for level in levels[1:]:
            ratios = [row["tokens_per_second"] / first["tokens_per_second"]
                      for row, first in zip(results[name][level], results[name][levels[0]])]
            per_batch = [row["sequences_per_batch"] for row in results[name][level] if "sequences_per_batch" in row]
            summary[name][str(level)]["round_ratio"] = statistics.median(ratios)
            batching = f"{statistics.median(per_batch):.1f}" if per_batch else "-"
            print(f"| {name} | {level} | {statistics.median(ratios):.2f}x ({', '.join(f'{r:.2f}' for r in ratios)}) "
                  f"| {batching} |")
    if "llama-server" in systems:
        print("\n| concurrent | plumise-petals / llama-server (median of round ratios) |")
        print("|---|---|")
        for level in levels:
            ratios = [a["tokens_per_second"] / b["tokens_per_second"]
                      for a, b in zip(results["plumise-petals"][level], results["llama-server"][level])]
            summary.setdefault("ratios", {})[str(level)] = statistics.median(ratios)
            print(f"| {level} | {statistics.median(ratios):.2f}x ({', '.join(f'{r:.2f}' for r in ratios)}) |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(summary=summary, rounds=results, threads=args.threads, tokens=args.tokens), f, indent=2)


if __name__ == "__main__":
    main()
