"""Drives scripts/soak.sh: normal clients whose every answer is checked, abusive clients of the
HTTP API and of the shard port, then the node's RSS, threads and fds against their baseline.
All traffic stays on 127.0.0.1."""
import argparse
import json
import os
import random
import socket
import struct
import sys
import threading
import time

import requests

PROMPTS = ["The capital of France is", "1, 2, 3, 4,", "Once upon a time", "def add(a, b):"]


def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    rss_mb = int(status["VmRSS"].split()[0]) / 1024
    threads = int(status["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_mb": round(rss_mb, 1), "threads": threads, "fds": fds}


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}

    def add(self, name, n=1):
        with self.lock:
            self.values[name] = self.values.get(name, 0) + n


def generate(api, prompt, tokens=8, timeout=120):
    return requests.post(api + "/api/v1/generate", timeout=timeout, json={
        "inputs": prompt, "parameters": {"max_new_tokens": tokens, "do_sample": False}})


def normal_client(api, expected, stop, counters, failures):
    rng = random.Random(threading.get_ident())
    while not stop.is_set():
        prompt = rng.choice(PROMPTS)
        try:
            if rng.random() < 0.5:
                answer = generate(api, prompt)
                text = answer.json().get("generated_text") if answer.status_code == 200 else None
            else:
                answer = requests.post(api + "/v1/completions", timeout=120, json={
                    "prompt": prompt, "max_tokens": 8, "temperature": 0})
                text = answer.json()["choices"][0]["text"] if answer.status_code == 200 else None
            if text == expected[prompt]:
                counters.add("normal ok")
            else:
                failures.append(f"{prompt!r}: HTTP {answer.status_code}, got {text!r}, want {expected[prompt]!r}")
        except requests.RequestException as error:
            failures.append(f"{prompt!r}: {error}")


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10)
    return s


def abuse_api(port, stop, counters):
    """Slow headers, garbage, oversized bodies, bad JSON, abandoned streams, HTTP/1.0."""
    actions = [
        lambda s: s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "),  # never finishes its head
        lambda s: s.sendall(os.urandom(512)),
        lambda s: s.sendall(b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n" + b"x" * 65536),
        lambda s: s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{not json"),
        lambda s: s.sendall(b"POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 70\r\n\r\n" + json.dumps({"inputs": "Hi", "stream": True,
                                                                        "parameters": {"max_new_tokens": 4}}).ljust(70).encode()),
        lambda s: s.sendall(b"GET /health HTTP/1.0\r\n\r\n"),
    ]
    while not stop.is_set():
        try:
            s = connect(port)
            random.choice(actions)(s)
            time.sleep(random.uniform(0, 0.5))
            s.close()
            counters.add("api abuse")
        except OSError:
            counters.add("api abuse refused")
        time.sleep(0.05)


def abuse_shard(port, stop, counters):
    """Garbage, a 4 GB frame header, a trickled frame, a silent open session, a connection flood."""
    hello = b"PPTW" + struct.pack("<HHH", 2, 0, 0)

    def huge_header(s):
        s.sendall(hello + struct.pack("<I", 0xFFFFFFF0))

    def trickle(s):
        s.sendall(hello + struct.pack("<I", 4_000_000))
        for _ in range(6):
            s.sendall(b"\0")
            time.sleep(0.5)

    def silent_session(s):
        s.sendall(hello)
        s.sendall(struct.pack("<I", 5) + b"\x03" + struct.pack("<I", 16))
        time.sleep(1)

    actions = [lambda s: s.sendall(os.urandom(256)), huge_header, trickle, silent_session]
    while not stop.is_set():
        try:
            sockets = [connect(port) for _ in range(random.choice([1, 1, 1, 20]))]
            random.choice(actions)(sockets[0])
            for s in sockets:
                s.close()
            counters.add("shard abuse")
        except OSError:
            counters.add("shard abuse refused")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--shard-port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--settle", type=float, default=20, help="seconds for idle timeouts to close what is left")
    args = parser.parse_args()
    api_port = int(args.api.rsplit(":", 1)[1])

    expected = {}
    for prompt in PROMPTS:
        answer = generate(args.api, prompt)
        answer.raise_for_status()
        expected[prompt] = answer.json()["generated_text"]
    time.sleep(2)
    baseline = proc_stats(args.pid)
    print(f"soak: baseline {baseline}", flush=True)

    stop, counters, failures = threading.Event(), Counters(), []
    threads = [threading.Thread(target=normal_client, args=(args.api, expected, stop, counters, failures)) for _ in range(2)]
    threads += [threading.Thread(target=abuse_api, args=(api_port, stop, counters)) for _ in range(3)]
    threads += [threading.Thread(target=abuse_shard, args=(args.shard_port, stop, counters)) for _ in range(3)]
    for t in threads:
        t.start()
    peak = dict(baseline)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        time.sleep(5)
        now = proc_stats(args.pid)
        peak = {k: max(peak[k], now[k]) for k in now}
    stop.set()
    for t in threads:
        t.join()
    time.sleep(args.settle)
    after = proc_stats(args.pid)
    # The node still answers correctly after the storm.
    final = generate(args.api, PROMPTS[0]).json()["generated_text"]
    if final != expected[PROMPTS[0]]:
        failures.append(f"after the soak: {final!r}")

    print(f"soak: {args.seconds:.0f} s, counts {dict(sorted(counters.values.items()))}")
    print(f"soak: peak {peak}")
    print(f"soak: after {after}")
    problems = list(failures[:10])
    if after["threads"] > baseline["threads"] + 2:
        problems.append(f"threads {baseline['threads']} -> {after['threads']}")
    if after["fds"] > baseline["fds"] + 2:
        problems.append(f"fds {baseline['fds']} -> {after['fds']}")
    if after["rss_mb"] > baseline["rss_mb"] * 1.25 + 20:
        problems.append(f"RSS {baseline['rss_mb']} MB -> {after['rss_mb']} MB")
    if counters.values.get("normal ok", 0) == 0:
        problems.append("no normal request was answered")
    for problem in problems:
        print(f"soak: FAIL {problem}")
    print("soak: " + ("FAILED" if problems else f"passed: {counters.values.get('normal ok', 0)} normal requests all correct"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
