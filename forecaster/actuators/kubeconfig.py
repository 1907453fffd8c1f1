"""Which cluster a Kubernetes target's client reaches, found without loading its credentials.

Part of a target's identity (``KubeTargetConfig.object_key``): ``in_cluster``, ``kubeconfig`` and
``context`` only say how to reach the object, so a default written out, the file KUBECONFIG
already names, or a kubeconfig copied to another path must not make it another target (retired,
restored to its baseline at a plan's peak, then pushed again under the step cap). The files are
read as YAML only, so no exec plugin runs; one that cannot be read now is never an error.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import yaml

IN_CLUSTER = "in-cluster"
SYSTEM_TREES = ("/proc/", "/sys/", "/dev/")
MAX_BYTES = 1 << 20  # a kubeconfig is a few KiB: a path to a large log is not parsed per PUT


def runs_in_cluster(flag: bool | None) -> bool:
    """What the client does with ``in_cluster``: unset means in-cluster inside a pod."""
    return flag if flag is not None else "KUBERNETES_SERVICE_HOST" in os.environ


def regular(real: str) -> bool:
    """Whether a resolved path is one the client may read as a kubeconfig: a regular file
    outside the system trees (a FIFO would hang the read, /proc/self/fd/N is someone's upload)."""
    return not real.startswith(SYSTEM_TREES) and os.path.isfile(real)


def kubeconfig_files(path: str | None) -> list[str]:
    """The files the client reads for ``path`` (a KUBECONFIG-style list; None: the one it loads
    by default), resolved: ``~`` expanded, symlinks followed, relative to the working directory."""
    from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION

    given = KUBE_CONFIG_DEFAULT_LOCATION if path is None else path
    return [os.path.realpath(os.path.expanduser(part)) for part in given.split(os.pathsep) if part]


def api_server(files: list[str], context: str | None) -> str | None:
    """The API server of ``context`` (None: the current one) in ``files``, merged as the client
    merges them (the first file to name a context or cluster wins), with the name the files
    give that cluster: kind clusters and tunnels share ``https://127.0.0.1:6443`` (review:
    a target moved from one to another was not retired). None when a file cannot be read or
    they do not say."""
    current: str | None = None
    contexts: dict[str, Any] = {}
    clusters: dict[str, Any] = {}
    try:
        for file in files:
            if not regular(file):
                return None
            stat = os.stat(file)
            if stat.st_size > MAX_BYTES:
                return None
            config = _parsed(file, stat.st_mtime_ns, stat.st_size)
            current = current or config.get("current-context")
            for entry in config.get("contexts") or []:
                contexts.setdefault(entry["name"], entry["context"])
            for entry in config.get("clusters") or []:
                clusters.setdefault(entry["name"], entry["cluster"])
        chosen = context or current
        cluster = contexts[chosen]["cluster"] if chosen else None
        server = clusters[cluster]["server"] if cluster else None
    except (OSError, ValueError, LookupError, TypeError, AttributeError, yaml.YAMLError):
        return None  # missing, not YAML, or not shaped like a kubeconfig
    return f"{str(server).rstrip('/')} ({cluster})" if server else None


@lru_cache(maxsize=256)
def _parsed(file: str, mtime_ns: int, size: int) -> Any:
    """A kubeconfig file's YAML, read again only when it changed: a PUT compares its targets
    with every other service's (review: 500 reads of a 6 KB kubeconfig took 8 s)."""
    with open(file, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def reached(
    *, in_cluster: bool | None, kubeconfig: str | None, context: str | None
) -> dict[str, Any]:
    """Where a target's client connects: in-cluster, or the API server its kubeconfig context
    names; when the files cannot be read now, the files (resolved) and the context given."""
    if runs_in_cluster(in_cluster):
        return {"cluster": IN_CLUSTER}
    files = kubeconfig_files(kubeconfig)
    server = api_server(files, context)
    if server is not None:
        return {"cluster": server}
    return {"cluster": None, "kubeconfig": files, "context": context}
