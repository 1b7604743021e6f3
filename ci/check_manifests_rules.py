#!/usr/bin/env python3
"""poolfault's rules for its Kubernetes manifests: what kubernetes-validate cannot see.

RULES
 every resource: YAML parses; apiVersion, kind, metadata.name; names, label keys and values
   valid; enum fields hold one of their values (restartPolicy, imagePullPolicy, completionMode,
   accessModes, operators, effects, ...); quantities parse (cpu: 2, memory: 4Gi).
 every pod spec (Job, DaemonSet, Pod): container names unique; each volumeMount names a volume
   of the pod; subPath and subPathExpr not both; env names unique; fieldRef paths the downward
   API supports; every $(VAR) in command, args, env values and subPathExpr defined (as Kubernetes
   expands it: a typo stays a literal "$(VAR)"); extended resources (nvidia.com/gpu) integral
   with requests = limits; cpu/memory requests <= limits; probes with one handler; sh -c scripts
   pass sh -n; NVIDIA_VISIBLE_DEVICES never set by hand (it would bypass the device plugin).
 each container running `poolfault run` (exec form or in an sh -c script): --require-gpu;
   --output-dir inside a writable mount of the PVC poolfault-reports; nvidia.com/gpu in requests
   and limits, equal, >= 1; POOLFAULT_POD_NAME, POOLFAULT_POD_NAMESPACE, POOLFAULT_NODE_NAME from
   metadata.name, metadata.namespace, spec.nodeName; NVIDIA_DRIVER_CAPABILITIES with compute
   and graphics (Vulkan); with more than one GPU, --devices and enough browsers for every GPU
   and enough layers for every browser (else poolfault exits 64); its pod: runtimeClassName
   nvidia and a GPU node selector.
 the validation Job (component validate): completionMode exactly Indexed; completions >= 1;
   parallelism <= completions; restartPolicy Never; no retries: backoffLimitPerIndex 0 (with
   backoffLimit unset or >= completions and maxFailedIndexes unset, so one failed node stops no
   other); activeDeadlineSeconds and ttlSecondsAfterFinished set; a required podAntiAffinity
   term with topologyKey kubernetes.io/hostname whose selector matches the pod's own labels.
 the DaemonSet (component node-check): selector matches the template's labels; poolfault run in
   an initContainer (a container would be restarted forever); a container with a readinessProbe.
 the merge Job (component merge): `poolfault report merge DIR... --output F`; no GPU anywhere in
   the pod; restartPolicy Never; backoffLimit 0; DIRs and F inside mounts of poolfault-reports;
   F not under a DIR (the merge would read its own output back).
 the PVC poolfault-reports: ReadWriteMany, a storage request; every claimName defined (when a
   PVC is among the files). With no file arguments: each of the above present exactly once,
   and deploy/Containerfile's RUN scripts parse (bash -n) and the paths it COPYs exist (no
   container engine needed).
"""
import os
import re
import subprocess
import sys
from fnmatch import fnmatchcase

import yaml

# The vocabulary (names, enums, quantities, pod-spec readers) is manifest_model.py's.
from manifest_model import (
    PVC_NAME, GPU, DOWNWARD, FIELD_PATHS, LEVEL_LAYERS, ENUMS,
    DNS_SUBDOMAIN, DNS_LABEL, VAR_REF, problems, problem, walk, quantity_ok,
    quantity_value, check_labels, selector_matches, env_of, tokens_of, poolfault_invocations, option, positionals,
    under, report_mounts, gpu_count,
)

FILES = sys.argv[1:]
COMPLETE_SET = os.environ.get("CHECK_MANIFESTS_COMPLETE_SET") == "1"
def check_pod_spec(where, base, pod_spec, pod_labels, extra_env, owner_kind):
    """Generic pod rules; returns the list of (field, container, is_init)."""
    if not isinstance(pod_spec, dict):
        problem(where, base, "missing pod spec")
        return []
    containers = []
    for key, is_init in (("initContainers", True), ("containers", False)):
        for i, c in enumerate(pod_spec.get(key) or []):
            if isinstance(c, dict):
                containers.append((f"{base}.{key}[{i}]({c.get('name')})", c, is_init))
    if not pod_spec.get("containers"):
        problem(where, f"{base}.containers", "a pod needs at least one container")
    names = [c.get("name") for _, c, _ in containers]
    for n in sorted({n for n in names if names.count(n) > 1}, key=str):
        problem(where, base, f"container name {n!r} used twice (init containers included)")
    volumes = [v.get("name") for v in pod_spec.get("volumes") or [] if isinstance(v, dict)]
    for n in sorted({n for n in volumes if volumes.count(n) > 1}, key=str):
        problem(where, f"{base}.volumes", f"volume name {n!r} used twice")
    for t in pod_spec.get("tolerations") or []:
        if t.get("operator") == "Exists" and t.get("value"):
            problem(where, f"{base}.tolerations", f"operator Exists takes no value (got {t.get('value')!r})")

    for field, c, is_init in containers:
        env_list = [e for e in c.get("env") or [] if isinstance(e, dict)]
        env_names = [e.get("name") for e in env_list]
        for n in sorted({n for n in env_names if env_names.count(n) > 1}, key=str):
            problem(where, f"{field}.env", f"{n} set twice")
        if "NVIDIA_VISIBLE_DEVICES" in env_names:
            problem(where, f"{field}.env", "NVIDIA_VISIBLE_DEVICES set by hand: it overrides the GPUs the device plugin allocated; request nvidia.com/gpu instead")
        known = set(extra_env)
        for e in env_list:
            ref = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            if ref is not None and not FIELD_PATHS.match(str(ref)):
                problem(where, f"{field}.env.{e.get('name')}", f"fieldPath {ref!r} is not one the downward API supports (metadata.name, metadata.namespace, spec.nodeName, ...)")
            if isinstance(e.get("value"), str) and not c.get("envFrom"):
                for v in VAR_REF.findall(e["value"].replace("$$", "")):
                    if v not in known:
                        problem(where, f"{field}.env.{e.get('name')}", f"$({v}) is not defined before it: Kubernetes would leave it as the literal text")
            known.add(e.get("name"))
        defined = set(env_names) | set(extra_env)
        argv, script = tokens_of(c)
        texts = [("command/args", " ".join(argv))]
        for m in c.get("volumeMounts") or []:
            if m.get("subPathExpr"):
                texts.append((f"volumeMounts({m.get('name')}).subPathExpr", str(m["subPathExpr"])))
        if not c.get("envFrom"):
            for what, text in texts:
                for v in VAR_REF.findall(text.replace("$$", "")):
                    if v not in defined:
                        problem(where, f"{field}.{what}", f"$({v}) is not an env var of this container: Kubernetes would leave it as the literal text")
        if script is not None:
            text = VAR_REF.sub("x", script.replace("$$", "$"))
            shell = "/bin/bash" if os.path.basename(argv[0]) == "bash" else "/bin/sh"
            if os.path.exists(shell):
                r = subprocess.run([shell, "-n", "-c", text], capture_output=True, text=True)
                if r.returncode != 0:
                    problem(where, f"{field}.command", f"the {os.path.basename(shell)} -c script does not parse: {r.stderr.strip()}")
        if not c.get("image"):
            problem(where, f"{field}.image", "missing")
        for m in c.get("volumeMounts") or []:
            if m.get("name") not in volumes:
                problem(where, f"{field}.volumeMounts", f"mounts volume {m.get('name')!r}, which the pod does not define")
            if m.get("subPath") and m.get("subPathExpr"):
                problem(where, f"{field}.volumeMounts({m.get('name')})", "subPath and subPathExpr are mutually exclusive")
        paths = [m.get("mountPath") for m in c.get("volumeMounts") or []]
        for p in sorted({p for p in paths if paths.count(p) > 1}, key=str):
            problem(where, f"{field}.volumeMounts", f"mountPath {p} used twice")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for k, v in (res.get(kind) or {}).items():
                if not quantity_ok(v):
                    problem(where, f"{field}.resources.{kind}.{k}", f"{v!r} is not a quantity (e.g. 2, 500m, 4Gi)")
                elif "/" in str(k) and not str(k).startswith(("kubernetes.io/", "requests.")):
                    if isinstance(v, float) or (isinstance(v, str) and not re.match(r"^\d+$", v)):
                        problem(where, f"{field}.resources.{kind}.{k}", f"{v!r}: an extended resource is a whole number")
        reqs, lims = res.get("requests") or {}, res.get("limits") or {}
        for k in reqs:
            if "/" in str(k) and not str(k).startswith("kubernetes.io/") and k not in lims:
                problem(where, f"{field}.resources.limits", f"{k} requested but not limited: extended resources need limits = requests")
            elif "/" in str(k) and k in lims and str(reqs[k]) != str(lims[k]):
                problem(where, f"{field}.resources", f"{k} request {reqs[k]} differs from limit {lims[k]}: they must be equal")
            elif k in ("cpu", "memory", "ephemeral-storage") and k in lims:
                rq, lm = quantity_value(reqs[k]), quantity_value(lims[k])
                if rq is not None and lm is not None and rq > lm:
                    problem(where, f"{field}.resources", f"{k} request {reqs[k]} exceeds its limit {lims[k]}")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            p = c.get(probe)
            if isinstance(p, dict):
                handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in p]
                if len(handlers) != 1:
                    problem(where, f"{field}.{probe}", f"needs exactly one handler (exec, httpGet, tcpSocket or grpc), has {handlers or 'none'}")
            if p is not None and is_init:
                problem(where, f"{field}.{probe}", "init containers cannot have probes")
    return containers


def check_run_container(where, field, c, pod_spec, base):
    for sub, args in poolfault_invocations(c):
        if sub != ["run"]:
            continue
        if "--require-gpu" not in args:
            problem(where, f"{field}.command", "poolfault run without --require-gpu: a node with no working NVIDIA Vulkan driver would pass on lavapipe")
        out = option(args, "--output-dir")
        mounts = report_mounts(pod_spec, c)
        if out is None:
            problem(where, f"{field}.command", "poolfault run without --output-dir: the report would stay in the container")
        elif not any(under(out, mp) for mp in mounts):
            problem(where, f"{field}.command", f"--output-dir {out} is not inside a mount of the PVC {PVC_NAME} (mounted at: {', '.join(mounts) or 'nowhere'})")
        elif any(under(out, mp) and ro for mp, ro in mounts.items()):
            problem(where, f"{field}.volumeMounts", f"the {PVC_NAME} mount holding --output-dir {out} is read-only")
        gpus = gpu_count(c, where, field)
        env = env_of(c)
        for name, path in DOWNWARD.items():
            e = env.get(name)
            got = (((e or {}).get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            if e is None:
                problem(where, f"{field}.env", f"{name} missing: set it from the downward API, fieldRef {path}")
            elif got != path:
                problem(where, f"{field}.env.{name}", f"must come from fieldRef {path}, not {got or e.get('value')!r}")
        caps = str((env.get("NVIDIA_DRIVER_CAPABILITIES") or {}).get("value", ""))
        capset = {s.strip() for s in caps.split(",")}
        if "all" not in capset and not {"compute", "graphics"} <= capset:
            problem(where, f"{field}.env", f"NVIDIA_DRIVER_CAPABILITIES is {caps!r}: Vulkan needs compute,utility,graphics (without graphics no Vulkan ICD is mounted)")
        if gpus and gpus > 1:
            devices = option(args, "--devices")
            browsers = option(args, "--browsers")
            nbrowsers = len([b for b in browsers.split(",") if b]) if browsers else 3
            per = option(args, "--browsers-per-device")
            if devices is None:
                problem(where, f"{field}.command", f"{gpus} GPUs requested but no --devices: poolfault would use only the first; add --devices all")
            elif per is None and devices == "all" and nbrowsers < gpus:
                problem(where, f"{field}.command", f"{gpus} GPUs but {nbrowsers} browsers: {gpus - nbrowsers} GPUs left unvalidated; list at least {gpus} --browsers")
            total = int(per) * gpus if per and per.isdigit() else max(nbrowsers, 1)
            layers = option(args, "--layers")
            nlayers = int(layers) if layers and layers.isdigit() else LEVEL_LAYERS.get(option(args, "--level"), 12)
            if option(args, "--shard-type") in (None, "layer") and total > nlayers:
                problem(where, f"{field}.command", f"{total} browsers but {nlayers} layers: poolfault refuses (exit 64) to cut fewer layers than browsers; raise --layers to {total}")
    if pod_spec.get("runtimeClassName") != "nvidia":
        problem(where, f"{base}.runtimeClassName", f"must be nvidia (the NVIDIA Container Toolkit's runtime), not {pod_spec.get('runtimeClassName')!r}")
    selects_gpu = any(re.search(r"gpu|accelerator", str(k), re.I) for k in (pod_spec.get("nodeSelector") or {}))
    terms = ((((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
              .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or [])
    if terms and all(any(re.search(r"gpu|accelerator", str(e.get("key")), re.I) for e in t.get("matchExpressions") or []) for t in terms):
        selects_gpu = True
    if not selects_gpu:
        problem(where, f"{base}", 'no GPU node selection: add nodeSelector nvidia.com/gpu.present: "true" (or a required nodeAffinity on it)')
    sel = (pod_spec.get("nodeSelector") or {}).get("nvidia.com/gpu.present")
    if sel is not None and sel != "true":
        problem(where, f"{base}.nodeSelector.nvidia.com/gpu.present", f'must be the string "true", not {sel!r}')


def check_merge_container(where, field, c, pod_spec):
    for sub, args in poolfault_invocations(c):
        if sub != ["report", "merge"]:
            continue
        out = option(args, "--output")
        dirs = positionals(args, {"--output", "--junit", "--html", "--outlier-factor"})
        mounts = report_mounts(pod_spec, c)
        if not dirs:
            problem(where, f"{field}.command", "poolfault report merge names no report directory")
        if out is None:
            problem(where, f"{field}.command", "poolfault report merge without --output")
        for what, p in [("report directory", d) for d in dirs] + [(f, option(args, f)) for f in ("--output", "--junit", "--html")]:
            if p is None:
                continue
            if not any(under(p, mp) for mp in mounts):
                problem(where, f"{field}.command", f"{what} {p} is not inside a mount of the PVC {PVC_NAME}")
            elif what != "report directory" and any(under(p, mp) and ro for mp, ro in mounts.items()):
                problem(where, f"{field}.volumeMounts", f"{what} {p} is on a read-only mount")
        if out is not None:
            for d in dirs:
                if under(out, d):
                    problem(where, f"{field}.command", f"--output {out} is inside the report directory {d}: a second merge would read the fleet report back as a node's")


def check_pod_owner(where, doc, pod_spec, base, containers):
    """Which roles the pod plays; rules on the GPU containers and GPU-free merge."""
    roles = set()
    for field, c, is_init in containers:
        for sub, _ in poolfault_invocations(c):
            if sub == ["run"]:
                roles.add("run-init" if is_init else "run")
                check_run_container(where, field, c, pod_spec, base)
            elif sub == ["report", "merge"]:
                roles.add("merge")
                check_merge_container(where, field, c, pod_spec)
    if "merge" in roles:
        for field, c, _ in containers:
            res = c.get("resources") or {}
            if GPU in (res.get("requests") or {}) or GPU in (res.get("limits") or {}):
                problem(where, f"{field}.resources", f"the merge needs no GPU: remove {GPU}")
    return roles


def check_job(where, doc, indexed_role):
    spec = doc.get("spec") or {}
    tmpl = spec.get("template") or {}
    pod_spec = tmpl.get("spec") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    check_labels(where, "spec.template.metadata.labels", labels)
    indexed = spec.get("completionMode") == "Indexed"
    extra = {"JOB_COMPLETION_INDEX"} if indexed else set()
    containers = check_pod_spec(where, "spec.template.spec", pod_spec, labels, extra, "Job")
    if pod_spec.get("restartPolicy") in (None, "Always", "OnFailure"):  # (another value: an enum problem)
        problem(where, "spec.template.spec.restartPolicy", f"must be Never (a Job's failed pod is its verdict, not restarted in place), not {pod_spec.get('restartPolicy')!r}")
    if spec.get("backoffLimitPerIndex") is not None and not indexed:
        problem(where, "spec.backoffLimitPerIndex", "needs completionMode: Indexed")
    if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
        problem(where, "spec.maxFailedIndexes", "needs backoffLimitPerIndex")
    roles = check_pod_owner(where, doc, pod_spec, "spec.template.spec", containers)
    component = labels.get("app.kubernetes.io/component")
    if "run" in roles or "run-init" in roles or component == "validate":
        if not roles & {"run", "run-init"}:
            problem(where, "spec.template.spec.containers", "the validation Job runs no `poolfault run`")
        cm = spec.get("completionMode")
        if cm is None:
            problem(where, "spec.completionMode", "missing: the validation Job must be an Indexed Job (completionMode: Indexed)")
        elif cm == "NonIndexed":
            problem(where, "spec.completionMode", f"must be exactly Indexed, not {cm!r}")
        completions, parallelism = spec.get("completions"), spec.get("parallelism")
        if completions is None:
            problem(where, "spec.completions", "missing: an Indexed Job needs completions (the number of GPU nodes); the API server rejects it without")
        elif not isinstance(completions, int) or isinstance(completions, bool) or completions < 1:
            problem(where, "spec.completions", f"must be a whole number >= 1, not {completions!r}")
        if parallelism is None:
            problem(where, "spec.parallelism", "missing: set it to completions so every node runs at once")
        elif isinstance(completions, int) and isinstance(parallelism, int) and parallelism > completions:
            problem(where, "spec.parallelism", f"{parallelism} exceeds completions {completions}")
        bpi, bl = spec.get("backoffLimitPerIndex"), spec.get("backoffLimit")
        if bpi is None and bl == 0:
            problem(where, "spec.backoffLimit", "backoffLimit: 0 alone stops every other node's pod at the first failure (their reports lost): use backoffLimitPerIndex: 0 and leave backoffLimit unset")
        elif bpi != 0:
            problem(where, "spec.backoffLimitPerIndex", f"must be 0 (a failed node must not be retried into a pass), not {bpi!r}")
        elif bl is not None and isinstance(completions, int) and isinstance(bl, int) and bl < completions:
            problem(where, "spec.backoffLimit", f"{bl} < completions {completions}: the failure after the {bl}th would stop the other nodes; leave backoffLimit unset with backoffLimitPerIndex")
        if spec.get("maxFailedIndexes") is not None:
            problem(where, "spec.maxFailedIndexes", "leave unset: once exceeded it stops the remaining nodes' runs")
        ads = spec.get("activeDeadlineSeconds")
        if not isinstance(ads, int) or ads <= 0:
            problem(where, "spec.activeDeadlineSeconds", f"set a deadline in seconds (e.g. 1800), not {ads!r}")
        if not isinstance(spec.get("ttlSecondsAfterFinished"), int):
            problem(where, "spec.ttlSecondsAfterFinished", "set it (e.g. 86400) so finished Jobs are cleaned up")
        anti = (((pod_spec.get("affinity") or {}).get("podAntiAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        ok = [t for t in anti if t.get("topologyKey") == "kubernetes.io/hostname"]
        if not ok:
            problem(where, "spec.template.spec.affinity.podAntiAffinity", "needs a requiredDuringSchedulingIgnoredDuringExecution term with topologyKey kubernetes.io/hostname, so no two pods share a node")
        elif not any(selector_matches(t.get("labelSelector"), labels) for t in ok):
            problem(where, "spec.template.spec.affinity.podAntiAffinity", "the hostname term's labelSelector does not match the pod's own labels: it keeps nothing apart")
        return "validate"
    if "merge" in roles or component == "merge":
        if "merge" not in roles:
            problem(where, "spec.template.spec.containers", "the merge Job runs no `poolfault report merge`")
        if spec.get("backoffLimit") != 0:
            problem(where, "spec.backoffLimit", f"must be 0 (the merge is deterministic: a retry says the same), not {spec.get('backoffLimit')!r}")
        return "merge"
    problem(where, "", "a Job that runs neither `poolfault run` nor `poolfault report merge`")
    return None


def check_daemonset(where, doc):
    spec = doc.get("spec") or {}
    tmpl = spec.get("template") or {}
    pod_spec = tmpl.get("spec") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    check_labels(where, "spec.template.metadata.labels", labels)
    if not selector_matches(spec.get("selector"), labels):
        problem(where, "spec.selector", "does not match spec.template.metadata.labels (the API server rejects it)")
    if pod_spec.get("restartPolicy") not in (None, "Always"):
        problem(where, "spec.template.spec.restartPolicy", "a DaemonSet's pods must have restartPolicy Always")
    containers = check_pod_spec(where, "spec.template.spec", pod_spec, labels, set(), "DaemonSet")
    roles = check_pod_owner(where, doc, pod_spec, "spec.template.spec", containers)
    if "run" in roles:
        problem(where, "spec.template.spec.containers", "poolfault run in a DaemonSet container: it would be restarted after every run; run it in an initContainer")
    if "run-init" not in roles:
        problem(where, "spec.template.spec.initContainers", "no initContainer runs `poolfault run`")
    if not any(c.get("readinessProbe") for _, c, init in containers if not init):
        problem(where, "spec.template.spec.containers", "no readinessProbe: the pod's Ready condition should say whether the node passed")
    return "node-check"


def check_pvc(where, doc):
    spec = doc.get("spec") or {}
    if doc["metadata"].get("name") == PVC_NAME:
        if "ReadWriteMany" not in (spec.get("accessModes") or []):
            problem(where, "spec.accessModes", f"must include ReadWriteMany: pods on every node write to it at once (got {spec.get('accessModes')})")
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is None:
            problem(where, "spec.resources.requests.storage", "missing")
        elif not quantity_ok(storage):
            problem(where, "spec.resources.requests.storage", f"{storage!r} is not a quantity (e.g. 1Gi)")
        return "pvc"
    return None


def check_containerfile(path):
    """RUN scripts parse, COPY sources exist in the build context (the repository root)."""
    if not os.path.isfile(path):
        problems.append(f"{path}: missing")
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    instructions, current, start = [], "", 0
    with open(path) as f:
        for n, line in enumerate(f.read().split("\n"), 1):
            stripped = line.strip()
            if stripped.startswith("#") or (not current and not stripped):
                continue
            if not current:
                start = n
            current += line[:-1] + " " if line.endswith("\\") else line
            if not line.endswith("\\"):
                instructions.append((start, current.strip()))
                current = ""
    words = [i.split(None, 1)[0].upper() for _, i in instructions]
    if not words or words[0] not in ("FROM", "ARG"):
        problems.append(f"{path}: the first instruction must be FROM (or ARG)")
    if "ENTRYPOINT" not in words:
        problems.append(f"{path}: no ENTRYPOINT")
    for n, text in instructions:
        word, _, rest = text.partition(" ")
        word = word.upper()
        if word == "RUN" and not rest.lstrip().startswith("["):
            r = subprocess.run(["bash", "-n", "-c", rest], capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f"{path}:{n}: RUN does not parse (bash -n): {r.stderr.strip()}")
        elif word in ("COPY", "ADD") and "--from=" not in rest:
            args = [a for a in rest.split() if not a.startswith("--")]
            for src in args[:-1]:
                if not os.path.exists(os.path.join(root, src)):
                    problems.append(f"{path}:{n}: {word} {src}: no such path in the build context ({root})")


def main():
    seen = {}
    pvcs, claims = set(), []
    for path in FILES:
        try:
            with open(path) as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            problem(path, "", f"YAML does not parse: {str(e).splitlines()[0]}")
            continue
        if not docs:
            problem(path, "", "no resource in it")
        for doc in docs:
            if not isinstance(doc, dict):
                problem(path, "", "a document that is not a mapping")
                continue
            kind, meta = doc.get("kind"), doc.get("metadata")
            if not isinstance(meta, dict) or not meta.get("name") or not kind or not doc.get("apiVersion"):
                problem(path, "", "a resource needs apiVersion, kind and metadata.name")
                continue
            name = str(meta["name"])
            where = f"{path}: {kind}/{name}"
            if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
                problem(where, "metadata.name", "not a valid name (lower-case alphanumerics, '-' and '.')")
            if kind in ("Job", "Pod") and (len(name) > 63 or not DNS_LABEL.match(name)):
                problem(where, "metadata.name", f"a {kind} name must be a DNS label (at most 63 of [a-z0-9-])")
            check_labels(where, "metadata.labels", meta.get("labels"))
            for p, value in walk(doc):
                for pattern, allowed in ENUMS:
                    if fnmatchcase(p, pattern) and value not in allowed:
                        problem(where, p, f"{value!r} is not one of {', '.join(allowed)}")
                if (fnmatchcase(p, "*.resources.requests.storage") or fnmatchcase(p, "*.emptyDir.sizeLimit")) and not quantity_ok(value):
                    problem(where, p, f"{value!r} is not a quantity (e.g. 1Gi)")
                if fnmatchcase(p, "*.persistentVolumeClaim.claimName"):
                    claims.append((where, value))
            role = None
            if kind == "Job":
                role = check_job(where, doc, None)
            elif kind == "DaemonSet":
                role = check_daemonset(where, doc)
            elif kind == "Pod":
                spec = doc.get("spec") or {}
                containers = check_pod_spec(where, "spec", spec, meta.get("labels") or {}, set(), "Pod")
                roles = check_pod_owner(where, doc, spec, "spec", containers)
                if roles & {"run", "run-init"} and spec.get("restartPolicy") != "Never":
                    problem(where, "spec.restartPolicy", "a pod that runs poolfault once must have restartPolicy Never")
                role = "reader" if not roles else "pod"
            elif kind == "PersistentVolumeClaim":
                pvcs.add(name)
                role = check_pvc(where, doc)
            if role:
                seen.setdefault(role, []).append(where)
    if pvcs:
        for where, claim in claims:
            if claim not in pvcs:
                problem(where, "claimName", f"{claim!r} is not a PersistentVolumeClaim among the checked files")
    if COMPLETE_SET:
        for role, what in (("validate", "the Indexed validation Job (job-indexed.yaml)"), ("node-check", "the DaemonSet (daemonset.yaml)"),
                           ("merge", "the merge Job (merge-job.yaml)"), ("pvc", f"the PVC {PVC_NAME} (reports-pvc.yaml)")):
            n = len(seen.get(role, []))
            if n != 1:
                problems.append(f"deploy/kubernetes: {what}: found {n}, want exactly 1")
    containerfile = os.environ.get("CHECK_MANIFESTS_CONTAINERFILE")
    if containerfile:
        check_containerfile(containerfile)
    for p in problems:
        print(f"check-manifests: {p}")
    return 1 if problems else 0


sys.exit(main())
