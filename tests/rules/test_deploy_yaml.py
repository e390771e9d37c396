#!/usr/bin/env python3
"""Structure tests of the deployment files, which cannot be run here (no Docker engine, no
Kubernetes, no systemd as PID 1): docker-compose.monitoring.yml, the Kubernetes manifests, the
Kubernetes scrape config, the Grafana provisioning files and the systemd unit (plus
`systemd-analyze verify` on it when available). Each check prints `ok` or `FAIL`.

Usage: test_deploy_yaml.py [REPO_ROOT]
"""
import copy
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
K8S = CONFIGS / "deploy/kubernetes"
OPERATOR = CONFIGS / "deploy/prometheus-operator"
WITH_OPERATOR = CONFIGS / "deploy/kubernetes-with-prometheus-operator"
PORT = 9476  # the agent's default port (docs/deployment.md)
UNIT = CONFIGS / "deploy/systemd/dwcp-observer.service"
CAPS = {"BPF", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE", "DAC_READ_SEARCH", "SETUID", "SETGID", "SETPCAP"}

results = []


def check(name, condition, detail=""):
    results.append((name, bool(condition)))
    print(f"{'ok  ' if condition else 'FAIL'} {name}{'' if condition or not detail else ': ' + str(detail)}")
    return condition


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def test_compose():
    compose = load(CONFIGS / "docker-compose.monitoring.yml")
    services = compose.get("services", {})
    want = {"dwcp-observer", "prometheus", "grafana", "alertmanager", "node-exporter", "cadvisor"}
    check("compose: all six services", want <= services.keys(), want - services.keys())

    agent = services.get("dwcp-observer", {})
    command = [str(c) for c in agent.get("command", [])]
    check("compose: agent privileged with the host PID namespace",
          agent.get("privileged") is True and agent.get("pid") == "host")
    check(f"compose: agent --web.listen-address 0.0.0.0:{PORT}",
          "--web.listen-address" in command and command[command.index("--web.listen-address") + 1] == f"0.0.0.0:{PORT}",
          command)
    check("compose: agent image is the version-tagged local build",
          re.fullmatch(r"\$\{DWCP_OBSERVER_IMAGE:-localhost/dwcp-observer:\d+\.\d+\.\d+\}", agent.get("image", "")),
          agent.get("image"))
    check("compose: no tracefs/debugfs mounts (the agent needs neither)",
          not any("/sys/kernel/tracing" in str(v) or "/sys/kernel/debug" in str(v) for v in agent.get("volumes", [])))
    check("compose: agent mounts /sys/kernel/btf",
          any(str(v).startswith("/sys/kernel/btf:") for v in agent.get("volumes", [])))

    def ports(name):
        return [str(p) for p in services.get(name, {}).get("ports", [])]
    for name, port in (("prometheus", 9090), ("grafana", 3001), ("alertmanager", 9093),
                       ("node-exporter", 9100), ("cadvisor", 8080)):
        check(f"compose: {name} published on {port}", f"{port}:{port}" in ports(name), ports(name))
    check("compose: Prometheus listens on its own 9090 inside its container",
          any("--web.listen-address=0.0.0.0:9090" == c for c in services.get("prometheus", {}).get("command", [])))

    # Every relative bind mount exists in the repository (paths are relative to configs/).
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                check(f"compose: {name} mount {source} exists", (CONFIGS / source).exists())
    grafana_volumes = [str(v) for v in services.get("grafana", {}).get("volumes", [])]
    provider = load(ROOT / "dashboards/provisioning/dashboards/dwcp.yml")["providers"][0]
    check("compose: the dashboard JSON is mounted where the provider looks",
          any(v.split(":")[0].endswith("dwcp-observer.json") and v.split(":")[1].startswith(provider["options"]["path"] + "/")
              for v in grafana_volumes), grafana_volumes)

    # prometheus.yml targets name compose services on their ports.
    prom = load(CONFIGS / "prometheus/prometheus.yml")
    targets = {t for job in prom["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]}
    for target in (f"dwcp-observer:{PORT}", "node-exporter:9100", "cadvisor:8080"):
        check(f"prometheus.yml scrapes {target}", target in targets, targets)
    am = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    check("prometheus.yml sends alerts to alertmanager:9093", am == ["alertmanager:9093"], am)
    jobs = {job["job_name"] for job in prom["scrape_configs"]}
    check("prometheus.yml has the dwcp-observer job", "dwcp-observer" in jobs, jobs)


def test_provisioning():
    ds = load(ROOT / "dashboards/provisioning/datasources/prometheus.yml")["datasources"][0]
    check("grafana datasource: prometheus at prometheus:9090",
          ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090", ds)
    provider = load(ROOT / "dashboards/provisioning/dashboards/dwcp.yml")["providers"][0]
    check("grafana dashboards: file provider with a path", provider["type"] == "file" and provider["options"]["path"])


def k8s_objects():
    objects = {}
    for path in sorted(K8S.glob("*.yaml")) + sorted(OPERATOR.glob("*.yaml")):
        if path.name == "kustomization.yaml":  # kustomize's own files
            continue
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    objects[(doc["kind"], doc["metadata"]["name"])] = (path.name, doc)
    return objects


def json_patch(doc, ops):
    """Applies RFC 6902 add/replace/remove (what the components use) to a copy of doc."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), op["value"]) if op["op"] == "add" else node.__setitem__(int(last), op["value"])
        else:
            if op["op"] == "replace" and last not in node:
                raise KeyError(op["path"])
            node[last] = op["value"]
    return doc


def component(name, ds):
    """The DaemonSet as the kustomize Component configs/deploy/NAME leaves it."""
    comp = load(CONFIGS / "deploy" / name / "kustomization.yaml")
    check(f"k8s: {name} is a kustomize Component", comp.get("kind") == "Component")
    for patch in comp.get("patches", []):
        if patch["target"] == {"kind": "DaemonSet", "name": "dwcp-observer"}:
            ds = json_patch(ds, yaml.safe_load(patch["patch"]))
    return ds


def test_kubernetes_components(ds):
    tls = component("kubernetes-tls", ds)
    c = tls["spec"]["template"]["spec"]["containers"][0]
    web = [a for a in c["args"] if a.startswith("--web.config.file=")]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in tls["spec"]["template"]["spec"]["volumes"]}
    check("k8s tls: probes follow TLS (HTTPS on the metrics port)",
          c["readinessProbe"]["httpGet"].get("scheme") == "HTTPS" and c["livenessProbe"]["httpGet"].get("scheme") == "HTTPS")
    check("k8s tls: --web.config.file inside the Secret's read-only mount",
          len(web) == 1 and web[0].split("=", 1)[1].startswith(mounts.get("web-config", "?") + "/")
          and volumes.get("web-config", {}).get("secret", {}).get("secretName") == "dwcp-observer-web", (web, mounts))
    old = component("kubernetes-apparmor-annotation", ds)
    sc = old["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    annotations = old["spec"]["template"]["metadata"].get("annotations", {})
    check("k8s pre-1.30: AppArmor as the annotation, the 1.30 field removed (unknown to older API servers)",
          "appArmorProfile" not in sc
          and annotations.get("container.apparmor.security.beta.kubernetes.io/dwcp-observer") == "unconfined", annotations)
    local = component("kubernetes-seccomp-localhost", ds)
    seccomp = local["spec"]["template"]["spec"]["containers"][0]["securityContext"]["seccompProfile"]
    profile_path = CONFIGS / "deploy/kubernetes-seccomp-localhost/dwcp-observer.json"
    profile = json.loads(profile_path.read_text())
    denied = {n for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ERRNO" for n in rule["names"]}
    check("k8s seccomp: Localhost profile shipped, it keeps bpf/perf_event_open and denies host changes",
          seccomp == {"type": "Localhost", "localhostProfile": "profiles/" + profile_path.name}
          and not denied & {"bpf", "perf_event_open", "process_vm_readv", "setresuid", "capset"}
          and {"mount", "init_module", "kexec_load", "reboot", "setns"} <= denied, seccomp)


def test_kubernetes():
    objects = k8s_objects()
    kinds = {kind for kind, _ in objects}
    want = {"Namespace", "ServiceAccount", "DaemonSet", "Service", "ServiceMonitor", "PrometheusRule"}
    check("k8s: all kinds present", want <= kinds, want - kinds)
    for (kind, name), (_, doc) in objects.items():
        if kind not in ("Namespace", "PriorityClass"):  # cluster-scoped
            check(f"k8s: {kind}/{name} in namespace dwcp-observer", doc["metadata"].get("namespace") == "dwcp-observer")

    _, ds = objects[("DaemonSet", "dwcp-observer")]
    pod = ds["spec"]["template"]
    spec = pod["spec"]
    container = spec["containers"][0]
    sc = container.get("securityContext", {})
    check("k8s: DaemonSet selector matches its pod labels",
          ds["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items())
    check("k8s: hostPID", spec.get("hostPID") is True)
    check("k8s: not privileged; capabilities BPF PERFMON SYS_PTRACE SYS_RESOURCE added, ALL dropped",
          sc.get("privileged") is False and CAPS <= set(sc["capabilities"]["add"]) and sc["capabilities"]["drop"] == ["ALL"],
          sc)
    check("k8s: no privilege escalation", sc.get("allowPrivilegeEscalation") is False)
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    host_paths = {v["name"]: v.get("hostPath", {}).get("path") for v in spec.get("volumes", [])}
    # kube-linter's sensitive-host-mounts / minimal mounts: only what the agent uses.
    check("k8s: the only host mount is /sys/kernel/btf, read-only",
          set(host_paths.values()) == {"/sys/kernel/btf"} and mounts == {"/sys/kernel/btf": "btf"}
          and all(m.get("readOnly") for m in container.get("volumeMounts", [])), host_paths)
    check("k8s: every volumeMount has a volume", set(mounts.values()) <= host_paths.keys())
    args = container.get("args", [])
    check(f"k8s: agent listens on 0.0.0.0:{PORT}", f"--web.listen-address=0.0.0.0:{PORT}" in args, args)
    check("k8s: no target flag: the agent discovers every DWCP process of its node",
          not any(a.startswith(("--comm", "--pid", "--exe")) for a in args), args)
    env = {e["name"]: e.get("valueFrom", {}) for e in container.get("env", [])}
    check("k8s: node label from the downward API",
          "--node=$(NODE_NAME)" in args and env.get("NODE_NAME", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName")
    kustomization = load(K8S / "kustomization.yaml")
    literals = dict(l.split("=", 1) for g in kustomization.get("configMapGenerator", []) for l in g.get("literals", []))
    check("k8s: cluster name from the one ConfigMap literal, with a default",
          "--cluster=$(CLUSTER_NAME)" in args and env.get("CLUSTER_NAME", {}).get("configMapKeyRef", {}).get("key") == "CLUSTER_NAME"
          and literals.get("CLUSTER_NAME"), literals)
    port = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    check(f"k8s: container port metrics = {PORT}", port.get("metrics") == PORT, port)
    # kube-linter: no-readiness-probe, no-liveness-probe.
    # Ready = serving (node_exporter, Beyla): /-/ready ("has a target") would stall a rollout on
    # every node whose DWCP is stopped; target presence is a metric and an alert instead.
    check("k8s: readiness and liveness /-/healthy (ready = serving) on the metrics port",
          container["readinessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "metrics"}
          and container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "metrics"})
    check("k8s: a priority class of its own (system-node-critical is quota-refused outside kube-system)",
          spec.get("priorityClassName") == "dwcp-observer-node-agent"
          and ("PriorityClass", "dwcp-observer-node-agent") in objects
          and 0 < objects[("PriorityClass", "dwcp-observer-node-agent")][1]["value"] < 1000000000, spec.get("priorityClassName"))
    check("k8s: seccomp confined (RuntimeDefault; Localhost in its component), never Unconfined",
          sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", sc.get("seccompProfile"))
    _, netpol = objects.get(("NetworkPolicy", "dwcp-observer"), (None, {}))
    np_spec = netpol.get("spec", {})
    check("k8s: NetworkPolicy: the agent pods, ingress on the metrics port only, no egress",
          np_spec.get("podSelector", {}).get("matchLabels", {}).items() <= pod["metadata"]["labels"].items()
          and bool(np_spec.get("podSelector", {}).get("matchLabels"))
          and set(np_spec.get("policyTypes", [])) == {"Ingress", "Egress"} and np_spec.get("egress") == []
          and all(p.get("port") == "metrics" for rule in np_spec.get("ingress", []) for p in rule.get("ports", [])),
          np_spec)
    test_kubernetes_components(ds)
    # kube-linter: unset-cpu-requirements, unset-memory-requirements.
    res = container.get("resources", {})
    check("k8s: CPU and memory requests and limits set",
          all(res.get(kind, {}).get(r) for kind in ("requests", "limits") for r in ("cpu", "memory")), res)

    def mib(text):
        return float(text[:-2]) * (1024 if text.endswith("Gi") else 1) if text.endswith(("Mi", "Gi")) else float("nan")
    # docs/soak.md: RSS flat at 24.4 MiB; the limit leaves room for attach, no more than 8x.
    check("k8s: memory limit between 2x and 8x the soak RSS (24.4 MiB)",
          2 * 24.4 <= mib(res.get("limits", {}).get("memory", "0Mi")) <= 8 * 24.4, res)
    # kube-linter: latest-tag, no image without a tag.
    images = {i["name"]: i for i in kustomization.get("images", [])}
    image = images.get(container["image"], {})
    check("k8s: image tag set by kustomize to a version, never latest",
          re.fullmatch(r"\d+\.\d+\.\d+", str(image.get("newTag", ""))) and ":" not in container["image"], image)
    cmake = (ROOT / "CMakeLists.txt").read_text()
    version = re.search(r"project\(dwcp-observer VERSION (\S+)", cmake).group(1)
    check("k8s: image tag is the version the build produces", image.get("newTag") == version, (image, version))
    # kube-linter: privileged-container, privilege-escalation-container, read-only root fs,
    # drop-net-raw (ALL dropped), run-as-non-root is not possible (eBPF needs uid 0 + caps).
    check("k8s: read-only root file system", sc.get("readOnlyRootFilesystem") is True)
    check("k8s: AppArmor through securityContext.appArmorProfile (not the deprecated annotation)",
          sc.get("appArmorProfile", {}).get("type") in ("Unconfined", "RuntimeDefault", "Localhost")
          and not any("apparmor" in k for k in pod["metadata"].get("annotations", {})), sc)
    check("k8s: no service account token", spec.get("automountServiceAccountToken") is False)
    check("k8s: no hostNetwork, no hostIPC", not spec.get("hostNetwork") and not spec.get("hostIPC"))

    _, svc = objects[("Service", "dwcp-observer")]
    check("k8s: Service selects the agent pods", svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items())
    # /-/ready is 503 while no target is attached: the not-ready agent must still be scraped so
    # that DWCPObserverTargetDown can fire for it.
    check("k8s: Service publishes not-ready agents (scraped while /-/ready is 503)",
          svc["spec"].get("publishNotReadyAddresses") is True, svc["spec"])
    check("k8s: Service port metrics -> metrics",
          any(p["name"] == "metrics" and p["targetPort"] == "metrics" for p in svc["spec"]["ports"]))
    _, sm = objects[("ServiceMonitor", "dwcp-observer")]
    check("k8s: ServiceMonitor selects the Service",
          sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items())
    check("k8s: ServiceMonitor scrapes port metrics at /metrics",
          sm["spec"]["endpoints"][0]["port"] == "metrics" and sm["spec"]["endpoints"][0]["path"] == "/metrics")

    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    check("k8s: kustomization lists every manifest", set(kustomization["resources"]) == files,
          files ^ set(kustomization["resources"]))
    base_kinds = set()
    for name in kustomization["resources"]:
        base_kinds |= {doc["apiVersion"].split("/")[0] for doc in yaml.safe_load_all(open(K8S / name)) if doc}
    check("k8s: `kubectl apply -k` of the base needs no Prometheus Operator CRDs",
          "monitoring.coreos.com" not in base_kinds, base_kinds)
    component = load(OPERATOR / "kustomization.yaml")
    check("k8s: ServiceMonitor and PrometheusRule form an optional kustomize Component",
          component["kind"] == "Component"
          and set(component["resources"]) == {p.name for p in OPERATOR.glob("*.yaml")} - {"kustomization.yaml"})
    overlay = load(WITH_OPERATOR / "kustomization.yaml")
    check("k8s: the with-operator overlay is the base plus the component",
          overlay.get("resources") == ["../kubernetes"] and overlay.get("components") == ["../prometheus-operator"])
    kubectl = shutil.which("kubectl")
    if kubectl:  # not in Debian 12's archive at a current version: rendered where installed
        for root in (K8S, WITH_OPERATOR):
            out = subprocess.run([kubectl, "kustomize", str(root)], capture_output=True, text=True)
            check(f"k8s: kubectl kustomize {root.name} renders", out.returncode == 0, out.stderr[-500:])
        for name in ("kubernetes-tls", "kubernetes-apparmor-annotation", "kubernetes-seccomp-localhost"):
            with tempfile.TemporaryDirectory(dir=CONFIGS / "deploy") as overlay:
                pathlib.Path(overlay, "kustomization.yaml").write_text(
                    "resources: [../kubernetes]\ncomponents: [../%s]\n" % name)
                out = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True)
            check(f"k8s: kubectl kustomize base + {name} renders", out.returncode == 0, out.stderr[-500:])
    else:
        print("skip kubectl kustomize: kubectl not installed")

    # The PrometheusRule is generated from the rule files, and its groups are valid rules.
    result = subprocess.run([sys.executable, str(ROOT / "scripts/gen-prometheusrule.py"), "--check"],
                            capture_output=True, text=True)
    check("k8s: prometheusrule.yaml up to date with the rule files (scripts/gen-prometheusrule.py --check)",
          result.returncode == 0, result.stderr.strip())
    _, rule = objects[("PrometheusRule", "dwcp-observer-rules")]
    promtool = shutil.which("promtool")
    if check("promtool installed (apt-get install prometheus)", promtool):
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump({"groups": rule["spec"]["groups"]}, f)
            f.flush()
            result = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
        check("k8s: PrometheusRule groups pass promtool check rules", result.returncode == 0,
              result.stdout + result.stderr)

    # Kubernetes service discovery config (Debian's promtool lacks kubernetes_sd: structure only).
    prom = load(CONFIGS / "prometheus/prometheus-kubernetes.yml")
    job = prom["scrape_configs"][0]
    sd = job["kubernetes_sd_configs"][0]
    check("prometheus-kubernetes.yml: pod discovery in the agent's namespace",
          sd["role"] == "pod" and sd["namespaces"]["names"] == [ds["metadata"]["namespace"]])
    keeps = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
    app = pod["metadata"]["labels"]["app.kubernetes.io/name"]
    check("prometheus-kubernetes.yml: keeps the DaemonSet's pods and their metrics port",
          keeps.get("__meta_kubernetes_pod_label_app_kubernetes_io_name") == app
          and keeps.get("__meta_kubernetes_pod_container_port_name") == "metrics", keeps)
    check("prometheus-kubernetes.yml: job name matches the observer alerts (dwcp-observer.*)",
          re.match(r"dwcp-observer", job["job_name"]))


def parse_unit(text):
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd():
    unit = parse_unit(UNIT.read_text())
    service = unit.get("Service", {})

    def last(key):
        return service.get(key, [None])[-1]
    caps = {c.removeprefix("CAP_") for c in (last("CapabilityBoundingSet") or "").split()}
    check("systemd: CapabilityBoundingSet is exactly the eBPF set", caps == CAPS, caps)
    ambient = {c.removeprefix("CAP_") for c in (last("AmbientCapabilities") or "").split()}
    check("systemd: AmbientCapabilities within the bounding set", ambient and ambient <= caps, ambient)
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("ProtectKernelModules", "yes"), ("ProtectControlGroups", "yes"), ("RestrictSUIDSGID", "yes"),
                       ("Restart", "on-failure")):
        check(f"systemd: {key}={value}", last(key) == value, last(key))
    check("systemd: system-call filter allows bpf and perf_event_open",
          {"bpf", "perf_event_open"} <= set((last("SystemCallFilter") or "").split()))
    # Configuration errors end the unit instead of a restart loop: the codes come from agent.h.
    codes = dict(re.findall(r"(kExit\w+) = (\d+)", (CONFIGS.parent / "userspace/agent/agent.h").read_text()))
    wanted = {codes[name] for name in ("kExitUsage", "kExitSymbols", "kExitPrivilege")}
    check("systemd: RestartPreventExitStatus = the agent's usage, profile and privilege exit codes",
          set((last("RestartPreventExitStatus") or "").split()) == wanted, (last("RestartPreventExitStatus"), wanted))
    check("systemd: ExecStart runs the packaged agent", (last("ExecStart") or "").startswith("/usr/sbin/dwcp-observer "))
    check("systemd: no target flag by default (discovery)",
          not any(flag in " ".join(service.get("Environment", [])) for flag in ("--comm", "--pid", "--exe")))
    check("systemd: [Install] WantedBy=multi-user.target", unit.get("Install", {}).get("WantedBy") == ["multi-user.target"])

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("skip systemd-analyze verify: systemd-analyze not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        # The agent binary is not installed here: verify everything else with a stand-in.
        copy = pathlib.Path(tmp) / UNIT.name
        copy.write_text(UNIT.read_text().replace("/usr/sbin/dwcp-observer", "/bin/true"))
        result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, cwd=tmp)
        output = (result.stdout + result.stderr).strip()
        check("systemd: systemd-analyze verify (binary path swapped for /bin/true)",
              result.returncode == 0 and UNIT.name not in output, output)


def main():
    for test in (test_compose, test_provisioning, test_kubernetes, test_systemd):
        try:
            test()
        except (KeyError, IndexError, TypeError, AttributeError) as e:  # a missing key is a failed check
            check(f"{test.__name__}: structure as expected", False, f"{type(e).__name__}: {e}")
    failed = sum(1 for _, ok in results if not ok)
    print(f"deploy: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
