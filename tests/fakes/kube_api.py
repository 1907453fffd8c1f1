"""A local fake of the Kubernetes API server, spoken to over real HTTP by the official client.

It serves the slice our actuators use (GET and PATCH of autoscaling/v2 HPAs and keda.sh/v1alpha1
ScaledObjects) and checks what a real API server checks for it: bearer authentication, RBAC
denials (403), unknown objects (404), patch content types (JSON patch needs a list, strategic
merge patch is refused for custom resources with 415), ``metadata.resourceVersion`` in a patch as
a precondition (409 on mismatch), validation of the result (422), plus injected 5xx answers and
slow answers for fault tests. Every request is recorded. With ``tls`` it serves HTTPS, as a real
API server does to the pods of its cluster (in-cluster configuration only speaks HTTPS).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN = "fake-token"
PATH = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<resource>[^/]+)/(?P<name>[^/?]+)$"
)


@dataclass(frozen=True)
class Kind:
    kind: str
    builtin: bool  # strategic merge patch only exists for built-in types
    validate: Callable[[dict[str, Any]], str | None]
    # the API server's defaulting, on create and on every write (a CRD without defaults: none)
    spec_defaults: tuple[tuple[str, Any], ...] = ()

    def defaulted(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` with the fields it leaves out that the server fills in filled in."""
        spec = obj.setdefault("spec", {})
        for name, value in self.spec_defaults:
            spec.setdefault(name, value)
        return obj


def _validate_hpa(obj: dict[str, Any]) -> str | None:
    spec = obj.get("spec", {})
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(low, int) or low < 1:
        return f"spec.minReplicas: Invalid value: {low!r}: must be greater than or equal to 1"
    if not isinstance(high, int) or high < low:
        return f"spec.maxReplicas: Invalid value: {high!r}: must be >= minReplicas"
    return None


def _validate_scaled_object(obj: dict[str, Any]) -> str | None:
    spec = obj.get("spec", {})
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if not isinstance(low, int) or low < 0:
        return f"spec.minReplicaCount: Invalid value: {low!r}"
    if not isinstance(high, int) or high < low:
        return f"MinReplicaCount={low} must be less than MaxReplicaCount={high}"
    return None


KINDS: dict[tuple[str, str, str], Kind] = {
    # autoscaling/v2 defaulting (SetDefaults_HorizontalPodAutoscaler): a stored HPA always
    # has a minReplicas, 1 when its manifest (or a patch's null) left it out
    ("autoscaling", "v2", "horizontalpodautoscalers"): Kind(
        "HorizontalPodAutoscaler", True, _validate_hpa, (("minReplicas", 1),)
    ),
    ("keda.sh", "v1alpha1", "scaledobjects"): Kind("ScaledObject", False, _validate_scaled_object),
}


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    content_type: str | None
    body: Any
    status: int


@dataclass
class Fault:
    method: str
    status: int | None  # None: answer normally, after ``delay``
    delay: float
    times: int


@dataclass
class FakeKubeApi:
    objects: dict[tuple[str, str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    before_patch: list[Callable[[], None]] = field(default_factory=list)
    url: str = ""
    _version: int = 100
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- test controls ---
    def add(self, group: str, version: str, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object as if it had been created; returns the stored copy."""
        meta = obj.setdefault("metadata", {})
        key = (group, version, resource, meta.get("namespace", "default"), meta["name"])
        with self._lock:
            stored = copy.deepcopy(obj)
            if (kind := KINDS.get((group, version, resource))) is not None:
                kind.defaulted(stored)
            stored["metadata"].setdefault("namespace", "default")
            stored["metadata"]["resourceVersion"] = self._next_version()
            stored["metadata"].setdefault("generation", 1)
            self.objects[key] = stored
            return copy.deepcopy(stored)

    def get(self, group: str, version: str, resource: str, ns: str, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.objects[(group, version, resource, ns, name)])

    def modify(
        self,
        group: str,
        version: str,
        resource: str,
        ns: str,
        name: str,
        spec: dict[str, Any],
        annotations: dict[str, str] | None = None,
    ) -> None:
        """Another writer changes the object (bumping its resourceVersion); a field given as
        None is removed."""
        with self._lock:
            obj = self.objects[(group, version, resource, ns, name)]
            obj["spec"] = _merge_patch(obj["spec"], spec)
            if (kind := KINDS.get((group, version, resource))) is not None:
                kind.defaulted(obj)
            obj["metadata"].setdefault("annotations", {}).update(annotations or {})
            obj["metadata"]["resourceVersion"] = self._next_version()

    def fail(self, method: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests of ``method`` with ``status``."""
        self.faults.append(Fault(method, status, 0.0, times))

    def slow(self, method: str, delay: float, times: int = 1) -> None:
        """Process the next ``times`` requests of ``method`` normally but answer after ``delay``."""
        self.faults.append(Fault(method, None, delay, times))

    def forbid(self, verb: str, resource: str) -> None:
        """RBAC: deny ``verb`` (get, patch) on ``resource`` to our service account."""
        self.forbidden.add((verb, resource))

    def patches(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "PATCH"]

    def write_kubeconfig(self, path: Path, user: dict[str, Any] | None = None) -> Path:
        """A kubeconfig of this server; ``user`` replaces the bearer token (an exec plugin)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "forecaster", "user": user or {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "forecaster"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path

    # --- the server side ---
    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        path, _, query = raw_path.partition("?")
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip() or None
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode(errors="replace")
        status, answer = self._dispatch(method, path, headers, content_type, parsed)
        with self._lock:
            self.requests.append(Recorded(method, path, query, content_type, parsed, status))
        return status, answer

    def _dispatch(
        self, method: str, path: str, headers: Any, content_type: str | None, body: Any
    ) -> tuple[int, Any]:
        # as the API server's bearer authenticator: the scheme in any case, the token exact
        # (in-cluster configuration sends "bearer <token>", a kubeconfig "Bearer <token>")
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != TOKEN:
            return _status(401, "Unauthorized", "Unauthorized")
        match = PATH.match(path)
        if match is None:
            return _status(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        group, version, ns, resource, name = (
            match["group"],
            match["version"],
            match["ns"],
            match["resource"],
            match["name"],
        )
        kind = KINDS.get((group, version, resource))
        if kind is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        verb = {"GET": "get", "PATCH": "patch"}.get(method)
        if verb is None:
            return _status(405, "MethodNotAllowed", f"{method} is not supported")
        if (verb, resource) in self.forbidden:
            return _status(
                403,
                "Forbidden",
                f'{resource}.{group} "{name}" is forbidden: User '
                f'"system:serviceaccount:ops:forecaster" cannot {verb} resource "{resource}" '
                f'in API group "{group}" in the namespace "{ns}"',
            )
        with self._lock:
            stored = self.objects.get((group, version, resource, ns, name))
            if stored is None:
                return _status(404, "NotFound", f'{resource}.{group} "{name}" not found')
            if method == "GET":
                return 200, copy.deepcopy(stored)
        for hook in list(self.before_patch):
            self.before_patch.remove(hook)
            hook()
        with self._lock:
            stored = self.objects[(group, version, resource, ns, name)]
            return self._patch(kind, resource, group, name, stored, content_type, body)

    def _patch(
        self,
        kind: Kind,
        resource: str,
        group: str,
        name: str,
        stored: dict[str, Any],
        content_type: str | None,
        body: Any,
    ) -> tuple[int, Any]:
        accepted = ["application/json-patch+json", "application/merge-patch+json"]
        if kind.builtin:
            accepted.append("application/strategic-merge-patch+json")
        if content_type not in accepted:
            return _status(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(accepted)}",
            )
        if content_type == "application/json-patch+json":
            if not isinstance(body, list):
                return _status(
                    400,
                    "BadRequest",
                    "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
                )
            try:
                result = _json_patch(copy.deepcopy(stored), body)
            except (KeyError, IndexError, ValueError) as error:
                return _status(422, "Invalid", f"the server rejected our request: {error}")
        else:
            if not isinstance(body, dict):
                return _status(400, "BadRequest", "patch body must be a JSON object")
            result = _merge_patch(copy.deepcopy(stored), body)
        wanted = result.get("metadata", {}).get("resourceVersion")
        if wanted is not None and wanted != stored["metadata"]["resourceVersion"]:
            return _status(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource}.{group} "{name}": the object has '
                "been modified; please apply your changes to the latest version and try again",
            )
        problem = kind.validate(kind.defaulted(result))
        if problem is not None:
            return _status(422, "Invalid", f'{kind.kind}.{group} "{name}" is invalid: {problem}')
        result["metadata"]["name"] = stored["metadata"]["name"]
        result["metadata"]["namespace"] = stored["metadata"]["namespace"]
        if result.get("spec") != stored.get("spec"):
            result["metadata"]["generation"] = stored["metadata"].get("generation", 1) + 1
        result["metadata"]["resourceVersion"] = self._next_version()
        stored.clear()
        stored.update(result)
        return 200, copy.deepcopy(stored)


def _status(code: int, reason: str, message: str) -> tuple[int, Any]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value)
    return target


def _json_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 JSON patch: add, remove, replace and test (enough for our use)."""
    for operation in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        parent: Any = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        op = operation["op"]
        if op == "test":
            if parent[last] != operation["value"]:
                raise ValueError(f"test failed at {operation['path']}")
        elif op == "remove":
            del parent[last]
        elif op in ("add", "replace"):
            if op == "replace" and last not in parent:
                raise KeyError(f"replace of missing {operation['path']}")
            parent[last] = operation["value"]
        else:
            raise ValueError(f"unsupported op {op}")
    return document


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeKubeApi

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.api._take_fault(self.command)
        if fault is not None and fault.status is not None:
            status, answer = _status(fault.status, "InternalError", "injected fault")
            with self.api._lock:
                self.api.requests.append(
                    Recorded(
                        self.command, self.path, "", self.headers.get("Content-Type"), None, status
                    )
                )
        else:
            status, answer = self.api.handle(self.command, self.path, self.headers, body)
            if fault is not None:
                time.sleep(fault.delay)
        payload = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): that is the point of a slow answer

    do_GET = _serve  # noqa: N815 - the name http.server dispatches to
    do_PATCH = _serve  # noqa: N815 - the name http.server dispatches to
    do_PUT = _serve  # noqa: N815 - the name http.server dispatches to
    do_POST = _serve  # noqa: N815 - the name http.server dispatches to

    def log_message(self, format: str, *args: Any) -> None:
        pass


def self_signed_certificate(directory: Path, name: str = "kube-api") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (as a cluster's CA bundle is to its pods);
    returns the certificate and key files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextmanager
def running_kube_api(tls: tuple[Path, Path] | None = None) -> Iterator[FakeKubeApi]:
    """Serve a fresh fake API server on a free loopback port for the duration of a block; over
    HTTPS with ``tls`` (certificate and key files)."""
    api = FakeKubeApi()
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    api.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
