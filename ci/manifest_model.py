#!/usr/bin/env python3
"""The vocabulary of ci/check_manifests_rules.py: Kubernetes' names, enums and quantities as
the API server checks them, the problems found so far, and helpers that read a pod spec (its
env, its poolfault invocations, its mounts and GPU requests). The rules themselves live in
check_manifests_rules.py."""
import os
import re
import shlex

PVC_NAME = "poolfault-reports"
GPU = "nvidia.com/gpu"
DOWNWARD = {
    "POOLFAULT_POD_NAME": "metadata.name",
    "POOLFAULT_POD_NAMESPACE": "metadata.namespace",
    "POOLFAULT_NODE_NAME": "spec.nodeName",
}
FIELD_PATHS = re.compile(
    r"^(metadata\.(name|namespace|uid)|spec\.(nodeName|serviceAccountName)|"
    r"status\.(hostIP|hostIPs|podIP|podIPs)|metadata\.(labels|annotations)\['[^']+'\])$")
SUBCOMMANDS = {"run", "soak", "devices", "infer", "bench", "report"}
LEVEL_LAYERS = {"quick": 3, "medium": 12, "long": 12, None: 12}

# Enum fields, by path (list items as []); "*" matches any prefix.
ENUMS = [
    ("*restartPolicy", ["Always", "OnFailure", "Never"]),
    ("*.containers[].imagePullPolicy", ["Always", "IfNotPresent", "Never"]),
    ("*.initContainers[].imagePullPolicy", ["Always", "IfNotPresent", "Never"]),
    ("*.terminationMessagePolicy", ["File", "FallbackToLogsOnError"]),
    ("*.dnsPolicy", ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]),
    ("*.preemptionPolicy", ["PreemptLowerPriority", "Never"]),
    ("*.ports[].protocol", ["TCP", "UDP", "SCTP"]),
    ("*.volumeMounts[].mountPropagation", ["None", "HostToContainer", "Bidirectional"]),
    ("*.tolerations[].operator", ["Exists", "Equal"]),
    ("*.tolerations[].effect", ["NoSchedule", "PreferNoSchedule", "NoExecute"]),
    ("*.nodeSelectorTerms[].matchExpressions[].operator", ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
    ("*.nodeSelectorTerms[].matchFields[].operator", ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
    ("*.preference.matchExpressions[].operator", ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
    ("*labelSelector.matchExpressions[].operator", ["In", "NotIn", "Exists", "DoesNotExist"]),
    ("*selector.matchExpressions[].operator", ["In", "NotIn", "Exists", "DoesNotExist"]),
    ("*.whenUnsatisfiable", ["DoNotSchedule", "ScheduleAnyway"]),
    ("*.seccompProfile.type", ["RuntimeDefault", "Unconfined", "Localhost"]),
    ("*.emptyDir.medium", ["", "Memory", "HugePages"]),
    ("spec.completionMode", ["NonIndexed", "Indexed"]),
    ("spec.podReplacementPolicy", ["TerminatingOrFailed", "Failed"]),
    ("spec.podFailurePolicy.rules[].action", ["FailJob", "FailIndex", "Ignore", "Count"]),
    ("spec.podFailurePolicy.rules[].onExitCodes.operator", ["In", "NotIn"]),
    ("spec.updateStrategy.type", ["RollingUpdate", "OnDelete"]),
    ("spec.accessModes[]", ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]),
    ("spec.volumeMode", ["Filesystem", "Block"]),
]
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

problems = []


def problem(where, field, message):
    problems.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def walk(node, path=""):
    """Yields (normalized path, value) for every scalar."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, f"{path}[]")
    else:
        yield path, node


def quantity_ok(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return v >= 0
    return isinstance(v, str) and bool(QUANTITY.match(v))


def quantity_value(v):
    """A quantity as a float, for comparing requests with limits (None when it does not parse)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    m = re.match(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$", str(v))
    if not m:
        return None
    base, suffix = float(m.group(1)), m.group(2) or ""
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    decimal = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    if suffix in binary:
        return base * binary[suffix]
    if suffix in decimal:
        return base * decimal[suffix]
    if suffix[:1] in ("e", "E"):
        return base * 10 ** int(suffix[1:])
    return base


def check_labels(where, field, labels):
    if labels is None:
        return
    if not isinstance(labels, dict):
        problem(where, field, "must be a map of label keys to string values")
        return
    for k, v in labels.items():
        k = str(k)
        prefix, _, name = k.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix))) or len(name) > 63 or not LABEL_NAME.match(name):
            problem(where, f"{field}.{k}", "not a valid label key (optional DNS prefix/, then at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends)")
        if not isinstance(v, str):
            problem(where, f"{field}.{k}", f"label values are strings: quote {v!r}")
        elif v and (len(v) > 63 or not LABEL_NAME.match(v)):
            problem(where, f"{field}.{k}", f"not a valid label value: {v!r} (at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends)")


def selector_matches(selector, labels):
    """A LabelSelector (matchLabels + matchExpressions) against a label map."""
    if not isinstance(selector, dict) or not selector:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def env_of(container):
    return {e.get("name"): e for e in container.get("env") or [] if isinstance(e, dict)}


def tokens_of(container):
    """The argv a container runs (command + args), and the sh -c script if it is one."""
    argv = [str(x) for x in (container.get("command") or [])] + [str(x) for x in (container.get("args") or [])]
    script = None
    if len(argv) >= 3 and os.path.basename(argv[0]) in ("sh", "bash", "dash") and argv[1] in ("-c", "-ec", "-ce", "-euc", "-exc"):
        script = argv[2]
    return argv, script


def poolfault_invocations(container):
    """Every poolfault command line in the container, as (subcommand words, argv after them)."""
    argv, script = tokens_of(container)
    lines = []
    if script is not None:
        joined = re.sub(r"\\\n", " ", script)
        for line in re.split(r"[\n;&|]+", joined):
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            lines.append(words)
    else:
        lines.append(argv)
    found = []
    for words in lines:
        for i, w in enumerate(words):
            if os.path.basename(w) == "poolfault":
                rest = words[i + 1:]
                if rest[:2] == ["report", "merge"]:
                    found.append((["report", "merge"], rest[2:]))
                elif rest[:1] and rest[0] in SUBCOMMANDS:
                    found.append(([rest[0]], rest[1:]))
                else:  # `poolfault` alone is `poolfault run`
                    found.append((["run"], rest))
                break
    return found


def option(args, name):
    """The value of --name V or --name=V (last wins), or None."""
    value = None
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1:]
    return value


def positionals(args, flags_with_values):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a.startswith("--"):
            skip = "=" not in a and a in flags_with_values
            continue
        out.append(a)
    return out


def under(path, root):
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def report_mounts(pod_spec, container):
    """mountPath → readOnly for the container's mounts of the PVC poolfault-reports."""
    pvc_volumes = {v.get("name"): v for v in pod_spec.get("volumes") or []
                   if isinstance(v, dict) and (v.get("persistentVolumeClaim") or {}).get("claimName") == PVC_NAME}
    out = {}
    for m in container.get("volumeMounts") or []:
        if m.get("name") in pvc_volumes:
            ro = bool(m.get("readOnly")) or bool(pvc_volumes[m["name"]]["persistentVolumeClaim"].get("readOnly"))
            out[m.get("mountPath", "")] = ro
    return out


def gpu_count(container, where, field):
    """nvidia.com/gpu of a container: requests and limits both, equal, integral, >= 1."""
    res = container.get("resources") or {}
    req, lim = (res.get("requests") or {}).get(GPU), (res.get("limits") or {}).get(GPU)
    # A request without a limit, or unequal ones, are reported by check_pod_spec.
    if req is None and lim is None:
        problem(where, f"{field}.resources", f"no {GPU} in requests or limits: poolfault run needs the node's GPUs (requests = limits = the GPU count)")
    elif req is None:
        problem(where, f"{field}.resources.requests", f"no {GPU}: set it, equal to the limit {lim}")
    n = lim if lim is not None else req
    try:
        n = int(str(n))
    except (TypeError, ValueError):
        return None
    if n < 1:
        problem(where, f"{field}.resources", f"{GPU} is {n}: at least 1")
    return n
