"""Cold start and warm latency of a Lambda bootstrap, measured outside any emulator's overhead.

A minimal Lambda Runtime API (the four routes a custom runtime uses) runs in this process on
127.0.0.1; the function's `bootstrap` is started as a child process pointed at it, exactly as the
Lambda service starts it. Cold start = process spawn → the first response posted back (binary
start, SDK set-up, and on that first request: campaign, model, dataset and event reads from the
stores, KMS Decrypt). Warm = the same request again in the same process, Runtime API round trip
included.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    def __init__(self):
        self.events: queue.Queue = queue.Queue()
        self.responses: dict[str, queue.Queue] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def _reply(self, code: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                request_id, payload = api.events.get()
                self._reply(200, payload, {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        "arn:aws:lambda:us-east-1:000000000000:function:tailor-recommend",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.perf_counter()
                parts = self.path[len(PREFIX):].strip("/").split("/")
                self._reply(202, b"{}")
                if len(parts) == 3 and parts[0] == "invocation" and parts[1] in api.responses:
                    api.responses[parts[1]].put((at, parts[2], body))
                elif parts[:2] == ["init", "error"]:
                    for q in api.responses.values():
                        q.put((at, "init-error", body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, payload: dict, timeout: float = 60) -> tuple[float, dict]:
        """Queues one event; returns (the time its response arrived, the response)."""
        request_id = str(uuid.uuid4())
        answers = self.responses[request_id] = queue.Queue()
        self.events.put((request_id, json.dumps(payload).encode()))
        try:
            at, kind, body = answers.get(timeout=timeout)
        finally:
            del self.responses[request_id]
        if kind != "response":
            raise RuntimeError(f"the function answered {kind}: {body[:500]!r}")
        return at, json.loads(body)

    def close(self):
        self.server.shutdown()


def http_event(path: str, body: dict) -> dict:
    """An API Gateway HTTP API (payload 2.0) request."""
    text = json.dumps(body)
    return {
        "version": "2.0", "routeKey": f"POST {path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "content-length": str(len(text))},
        "requestContext": {
            "accountId": "000000000000", "apiId": "coldstart", "domainName": "localhost",
            "domainPrefix": "localhost", "requestId": str(uuid.uuid4()), "routeKey": f"POST {path}",
            "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0,
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "coldstart"},
        },
        "body": text, "isBase64Encoded": False,
    }


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def lambda_env(env: dict[str, str], api: RuntimeApi, name: str) -> dict[str, str]:
    """What the Lambda service sets for a custom runtime's process."""
    return {
        **env,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart",
        "RUST_LOG": os.environ.get("TAILOR_COLDSTART_LOG", "warn"),
    }


def invoke_all(binary: str, env: dict[str, str], events, name: str = "tailor-events") -> dict:
    """Every event of `events` through one warm process of `binary`, in turn; each must answer
    200. Returns how many and how long it took."""
    api = RuntimeApi()
    proc = subprocess.Popen([binary], env=lambda_env(env, api, name), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    started, n = time.perf_counter(), 0
    try:
        for event in events:
            _, answer = api.invoke(event)
            if answer.get("statusCode") != 200:
                raise RuntimeError(f"request {n} failed: {answer}")
            n += 1
    finally:
        proc.kill()
        proc.communicate()
        api.close()
    return {"requests": n, "seconds": time.perf_counter() - started}


def measure(binary: str, env: dict[str, str], event: dict, runs: int, warm: int,
            cold_timeout: float = 60) -> dict:
    """`runs` fresh processes; in each, one cold request (allowed `cold_timeout` seconds) then
    `warm` more."""
    cold, warm_ms, inside_ms = [], [], []
    for _ in range(runs):
        api = RuntimeApi()
        child_env = lambda_env(env, api, "tailor-recommend")
        # stdout carries the function's EMF lines: the latency it measured itself, per request.
        emf = tempfile.TemporaryFile()
        started = time.perf_counter()
        proc = subprocess.Popen([binary], env=child_env, stdout=emf, stderr=subprocess.PIPE)
        try:
            at, answer = api.invoke(event, timeout=cold_timeout)
            if answer.get("statusCode") != 200:
                raise RuntimeError(f"cold request failed: {answer}")
            cold.append((at - started) * 1000)
            for _ in range(warm):
                t0 = time.perf_counter()
                at, answer = api.invoke(event)
                if answer.get("statusCode") != 200:
                    raise RuntimeError(f"warm request failed: {answer}")
                warm_ms.append((at - t0) * 1000)
        finally:
            proc.kill()
            err = proc.communicate()[1]
            api.close()
            emf.seek(0)
            lines = emf.read().decode(errors="replace").splitlines()
            emf.close()
            latencies = [json.loads(l)["GetRecommendationsLatency"] for l in lines
                         if '"GetRecommendationsLatency"' in l]
            inside_ms.extend(latencies[1:])  # the first request of each process is the cold one
        if err.strip() and os.environ.get("TAILOR_COLDSTART_VERBOSE"):
            print(err.decode(errors="replace")[-2000:])
    return {
        "runs": runs,
        "cold_ms": {"median": percentile(cold, 50), "min": min(cold), "max": max(cold)},
        "warm_ms": {"requests": len(warm_ms), "p50": percentile(warm_ms, 50),
                    "p99": percentile(warm_ms, 99)} if warm_ms else None,
        # The handler's own measure of its warm requests (EMF GetRecommendationsLatency).
        "warm_in_process_ms": {"requests": len(inside_ms), "p50": percentile(inside_ms, 50),
                               "p99": percentile(inside_ms, 99)} if inside_ms else None,
    }
