"""A recording HTTP proxy on 127.0.0.1, put between a node and the devnet when a test must see
the exact bytes that crossed the wire (and able to go down and up, as an outage)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 in front of `upstream`, recording every POST body with the
    upstream's answer. down() closes its port (connection refused, as for a dead oracle) and
    up() opens the same port again. POSTs to a path in `refuse` are answered 503 without reaching
    the upstream (and recorded so), as an upstream that is down for that endpoint only."""

    def __init__(self, upstream, refuse=()):
        self.upstream = upstream.rstrip("/")
        self.refuse = set(refuse)
        self.exchanges = []  # (path, request json, status, response text)
        self.lock = threading.Lock()
        self.port = 0
        self.server = None
        self.up()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def up(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    if self.path in proxy.refuse:
                        raise requests.ConnectionError(f"{self.path} refused by the test's proxy")
                    answer = requests.post(proxy.upstream + self.path, data=body, timeout=30,
                                           headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
                    status, text = answer.status_code, answer.text
                except requests.RequestException as error:
                    status, text = 502, json.dumps({"status": "error", "message": str(error)})
                try:
                    request = json.loads(body)
                except ValueError:
                    request = None
                with proxy.lock:
                    proxy.exchanges.append((self.path, request, status, text))
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        self.server.shutdown()
        self.server.server_close()

    def recorded(self, path=None):
        with self.lock:
            return [e for e in self.exchanges if path is None or e[0] == path]

    def accepted_reports(self):
        """Reports the oracle accepted (2xx and not {"status":"error"})."""
        reports = []
        for _, request, status, text in self.recorded("/api/v1/metrics/report"):
            if 200 <= status < 300 and '"error"' not in text:
                reports.append(request)
        return reports

    def raw_transactions(self):
        """The raw transactions sent with eth_sendRawTransaction, as bytes."""
        raws = []
        for _, request, _, _ in self.recorded():
            if isinstance(request, dict) and request.get("method") == "eth_sendRawTransaction":
                raws.append(bytes.fromhex(request["params"][0][2:]))
        return raws
