"""moto's server mode on loopback, behind a small proxy that can fail or delay chosen AWS calls.

boto3 talks real HTTP to the proxy, the proxy to moto. Fault tests ask the proxy to answer the
next N calls of an operation with a 5xx/throttling error (in the protocol's own error format),
or to forward a call and answer it only after a delay (the call lands; the client times out),
or to refuse chosen actions of a BatchPutScheduledUpdateGroupAction as AWS does, one by one in
its answer, writing the others (e.g. a start time already past by AWS's clock).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

from moto.server import ThreadedMotoServer

BATCH_PUT = "BatchPutScheduledUpdateGroupAction"
MEMBER = "ScheduledUpdateGroupActions.member."


@dataclass
class Rule:
    operation: str
    status: int | None  # None: forward, then answer after ``delay``
    code: str
    delay: float
    times: int


@dataclass
class FaultProxy:
    upstream: str
    url: str = ""
    rules: list[Rule] = field(default_factory=list)
    calls: list[tuple[str, int]] = field(default_factory=list)
    # a scheduled action's (name, start time) to AWS's reason for refusing it, or None
    refuse: Callable[[str, datetime], str | None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(
        self, operation: str, status: int = 503, code: str = "ServiceUnavailable", times: int = 1
    ) -> None:
        self.rules.append(Rule(operation, status, code, 0.0, times))

    def slow(self, operation: str, delay: float, times: int = 1) -> None:
        self.rules.append(Rule(operation, None, "", delay, times))

    def operations(self, name: str) -> list[int]:
        """Statuses answered to each call of ``name``, in order."""
        return [status for op, status in self.calls if op == name]

    def reset(self) -> None:
        self.rules.clear()
        self.calls.clear()
        self.refuse = None
        request = urllib.request.Request(f"{self.upstream}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def take(self, operation: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.operation == operation and rule.times > 0:
                    rule.times -= 1
                    return rule
        return None


def operation_of(path: str, headers: Any, body: bytes) -> str:
    """The AWS operation in a request, for the query, JSON and RPC-v2 protocols alike."""
    target = headers.get("X-Amz-Target")
    if target:
        return str(target).rsplit(".", 1)[-1]
    match = re.search(r"/operation/([A-Za-z]+)", path)
    if match:
        return match.group(1)
    form = parse_qs(body.decode(errors="replace"))
    return form.get("Action", ["?"])[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        operation = operation_of(self.path, self.headers, body)
        rule = self.proxy.take(operation)
        if rule is not None and rule.status is not None:
            status, headers, payload = self._error(rule)
        elif operation == BATCH_PUT and self.proxy.refuse is not None:
            status, headers, payload = self._batch_put(body, self.proxy.refuse)
        else:
            status, headers, payload = self._forward(body)
            if rule is not None:
                time.sleep(rule.delay)
        with self.proxy._lock:
            self.proxy.calls.append((operation, status))
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        skip = {"host", "content-length", "connection", "accept-encoding"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        request = urllib.request.Request(
            self.proxy.upstream + self.path, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, _keep(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, _keep(error.headers), error.read()

    def _batch_put(
        self, body: bytes, refuse: Callable[[str, datetime], str | None]
    ) -> tuple[int, dict[str, str], bytes]:
        """Forward the actions ``refuse`` lets through, renumbered; answer the others failed."""
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        members: dict[int, dict[str, str]] = {}
        for key, value in form.items():
            if key.startswith(MEMBER):
                number, attribute = key[len(MEMBER) :].split(".", 1)
                members.setdefault(int(number), {})[attribute] = value
        kept = {key: value for key, value in form.items() if not key.startswith(MEMBER)}
        failed: list[tuple[str, str]] = []
        for _, member in sorted(members.items()):
            name = member["ScheduledActionName"]
            start = datetime.fromisoformat(member["StartTime"].replace("Z", "+00:00"))
            reason = refuse(name, start)
            if reason is not None:
                failed.append((name, reason))
                continue
            number = 1 + sum(key.endswith(".ScheduledActionName") for key in kept)
            kept.update({f"{MEMBER}{number}.{k}": v for k, v in member.items()})
        status, headers = 200, {"Content-Type": "text/xml"}
        if len(failed) < len(members):
            status, headers, _ = self._forward(urlencode(kept).encode())
        answer = "".join(
            f"<member><ScheduledActionName>{name}</ScheduledActionName><ErrorCode>"
            f"ValidationError</ErrorCode><ErrorMessage>{reason}</ErrorMessage></member>"
            for name, reason in failed
        )
        xml = (
            f'<{BATCH_PUT}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
            f"<{BATCH_PUT}Result><FailedScheduledUpdateGroupActions>{answer}"
            f"</FailedScheduledUpdateGroupActions></{BATCH_PUT}Result>"
            f"<ResponseMetadata><RequestId>refused</RequestId></ResponseMetadata></{BATCH_PUT}Response>"
        )
        return status, headers, xml.encode()

    def _error(self, rule: Rule) -> tuple[int, dict[str, str], bytes]:
        assert rule.status is not None
        if self.headers.get("X-Amz-Target"):
            payload = json.dumps({"__type": rule.code, "message": "injected fault"}).encode()
            return rule.status, {"Content-Type": "application/x-amz-json-1.1"}, payload
        xml = (
            "<ErrorResponse><Error><Type>Receiver</Type>"
            f"<Code>{rule.code}</Code><Message>injected fault</Message></Error>"
            "<RequestId>fault</RequestId></ErrorResponse>"
        )
        return rule.status, {"Content-Type": "text/xml"}, xml.encode()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _keep(headers: Any) -> dict[str, str]:
    drop = {"content-length", "connection", "transfer-encoding", "server", "date"}
    return {k: v for k, v in headers.items() if k.lower() not in drop}


@contextmanager
def moto_behind_proxy() -> Iterator[FaultProxy]:
    """moto's ThreadedMotoServer on loopback and a fault proxy in front of it."""
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    proxy = FaultProxy(upstream=f"http://{host}:{port}")
    handler = type("Handler", (_Handler,), {"proxy": proxy})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        moto.stop()
