"""deploy/: the OpenShift template renders, every Kubernetes object validates against the
Kubernetes OpenAPI schemas (offline, kubernetes-validate), OpenShift kinds have their
required fields and consistent references, and the probes answer on a running service."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from nbs2i_service.config import DEFAULT_GRPC_PORT, DEFAULT_PORT
from test.helpers import REPO, Service, free_port, request
from test.openshift_template import process

DEPLOY = REPO / "deploy"
K8S_VERSION = "1.30.0"
OPENSHIFT_KINDS = {"ImageStream", "BuildConfig", "Route"}
PARAMS = {"MODEL_NAME": "kmeans", "GIT_URL": "https://github.com/example/models.git", "GIT_REF": "v1",
          "CONTEXT_DIR": "examples/kmeans", "REPLICAS": "3"}


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    template = load_all(DEPLOY / "openshift" / "template.yaml")[0]
    assert template["kind"] == "Template"
    return process(template, PARAMS)


def kinds(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def plain_objects() -> list[dict]:
    return load_all(DEPLOY / "kubernetes" / "model.yaml")


def test_template_renders_parameters(rendered):
    deployment = kinds(rendered, "Deployment")[0]
    assert deployment["spec"]["replicas"] == 3  # ${{REPLICAS}} became a number
    assert kinds(rendered, "HorizontalPodAutoscaler")[0]["spec"]["minReplicas"] == 2
    text = yaml.safe_dump(rendered)
    assert "${" not in text
    secret = next(s for s in kinds(rendered, "Secret") if s["metadata"]["name"] == "kmeans-webhook")
    assert re.fullmatch(r"[a-zA-Z0-9]{40}", secret["stringData"]["WebHookSecretKey"])


@pytest.mark.parametrize("source", ["template", "kubernetes"])
def test_kubernetes_objects_validate_against_the_openapi_schemas(rendered, source):
    objects = [o for o in rendered if o["kind"] not in OPENSHIFT_KINDS] if source == "template" else plain_objects()
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_validation_would_catch_a_broken_object(rendered):
    broken = copy.deepcopy(kinds(rendered, "Deployment")[0])
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_openshift_objects_have_required_fields(rendered):
    for stream in kinds(rendered, "ImageStream"):
        assert stream["apiVersion"] == "image.openshift.io/v1" and stream["metadata"]["name"]
    for bc in kinds(rendered, "BuildConfig"):
        assert bc["apiVersion"] == "build.openshift.io/v1"
        spec = bc["spec"]
        assert spec["strategy"]["type"] in ("Source", "Docker") and spec["output"]["to"]["kind"] == "ImageStreamTag"
        assert spec["source"]["type"] in ("Git", "Dockerfile") and spec["triggers"]
    route = kinds(rendered, "Route")[0]
    assert route["apiVersion"] == "route.openshift.io/v1" and route["spec"]["to"]["kind"] == "Service"


def test_the_s2i_build_is_incremental_and_chained(rendered):
    assemble, runtime = sorted(kinds(rendered, "BuildConfig"), key=lambda b: b["metadata"]["name"])
    source = assemble["spec"]["strategy"]["sourceStrategy"]
    assert source["from"]["name"] == "nb-builder:latest" and source["incremental"] is True
    assert assemble["spec"]["source"]["git"] == {"uri": PARAMS["GIT_URL"], "ref": "v1"}
    assert assemble["spec"]["source"]["contextDir"] == "examples/kmeans"
    assert {t["type"] for t in assemble["spec"]["triggers"]} >= {"GitHub", "Generic", "ConfigChange"}
    assert assemble["spec"]["output"]["to"]["name"] == "kmeans:assembled"
    images = runtime["spec"]["source"]["images"][0]
    assert images["from"]["name"] == "kmeans:assembled"
    assert {p["sourcePath"] for p in images["paths"]} == \
        set(_runtime_label_paths())  # the same folders nb-runtime's label names
    assert runtime["spec"]["strategy"]["dockerStrategy"]["from"]["name"] == "nb-runtime:latest"
    assert {"from": {"kind": "ImageStreamTag", "name": "kmeans:assembled"}} in \
        [t.get("imageChange") for t in runtime["spec"]["triggers"]]
    assert runtime["spec"]["output"]["to"]["name"] == "kmeans:latest"


def _runtime_label_paths() -> list[str]:
    text = (REPO / "Dockerfile").read_text()
    return re.search(r'assemble-input-files="([^"]+)"', text).group(1).split(";")


def test_image_stream_references_resolve(rendered):
    streams = {s["metadata"]["name"] for s in kinds(rendered, "ImageStream")}
    produced = {bc["spec"]["output"]["to"]["name"] for bc in kinds(rendered, "BuildConfig")}
    tags = {f"{s['metadata']['name']}:{t['name']}" for s in kinds(rendered, "ImageStream")
            for t in s["spec"].get("tags", [])} | produced
    refs = []
    for bc in kinds(rendered, "BuildConfig"):
        strategy = bc["spec"]["strategy"]
        refs.append((strategy.get("sourceStrategy") or strategy.get("dockerStrategy"))["from"]["name"])
        refs += [i["from"]["name"] for i in bc["spec"]["source"].get("images", [])]
        refs += [t["imageChange"]["from"]["name"] for t in bc["spec"]["triggers"] if t.get("imageChange", {}).get("from")]
    deployment = kinds(rendered, "Deployment")[0]
    trigger = yaml.safe_load(deployment["metadata"]["annotations"]["image.openshift.io/triggers"])
    refs.append(trigger[0]["from"]["name"])
    assert 'name=="model"' in trigger[0]["fieldPath"]
    assert [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]] == ["model"]
    for ref in refs:
        assert ref.split(":")[0] in streams and ref in tags, ref
    secrets = {s["metadata"]["name"] for s in kinds(rendered, "Secret")}
    for bc in kinds(rendered, "BuildConfig"):
        for t in bc["spec"]["triggers"]:
            hook = t.get("github") or t.get("generic")
            if hook:
                assert hook["secretReference"]["name"] in secrets
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in volumes if "secret" in v)["secret"]["secretName"] in secrets


def _containers(objects: list[dict]) -> list[tuple[dict, dict]]:
    """(object, container) for every pod template: Deployments, Knative Services, CronJobs."""
    found = []
    for obj in objects:
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
        found += [(obj, container) for container in (pod or {}).get("containers", [])]
    return found


def _service_pods(objects):
    return [(o, c) for o, c in _containers(objects) if c["name"] != "start-build"]


@pytest.mark.parametrize("source", ["template", "kubernetes", "knative", "knative-grpc"])
def test_ports_services_and_routes_agree(rendered, source):
    objects = {"template": rendered, "kubernetes": plain_objects(),
               "knative": load_all(DEPLOY / "knative" / "service.yaml"),
               "knative-grpc": load_all(DEPLOY / "knative" / "service-grpc.yaml")}[source]
    for _, container in _service_pods(objects):
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
        if source == "knative-grpc":  # one port, h2c, the gRPC one; HTTP on its own inside the pod
            assert ports == {"h2c": DEFAULT_GRPC_PORT} and int(env["NBS2I_GRPC_PORT"]) == DEFAULT_GRPC_PORT
            assert int(env["NBS2I_HTTP_PORT"]) == DEFAULT_PORT
            continue
        assert container["ports"][0]["containerPort"] == DEFAULT_PORT
        if "grpc" in ports:
            assert ports["grpc"] == int(env["NBS2I_GRPC_PORT"]) == DEFAULT_GRPC_PORT
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if "grpc" in container[probe]:  # gRPC's health service, on the gRPC port
                assert container[probe]["grpc"]["port"] == ports["grpc"]
                continue
            port = container[probe]["httpGet"].get("port")
            assert port in (None, container["ports"][0].get("name"), DEFAULT_PORT)
    for service in kinds(objects, "Service"):
        if service["apiVersion"] != "v1":
            continue
        names = [p.get("name") for _, c in _service_pods(objects) for p in c["ports"]]
        assert all(port["targetPort"] in names for port in service["spec"]["ports"])
        grpc_ports = [port for port in service["spec"]["ports"] if port["name"] == "grpc"]
        assert grpc_ports and grpc_ports[0]["appProtocol"] == "kubernetes.io/h2c"
        for route in kinds(objects, "Route"):
            assert route["spec"]["to"]["name"] == service["metadata"]["name"]
            assert route["spec"]["port"]["targetPort"] == service["spec"]["ports"][0]["name"]


def _readme_variables() -> set[str]:
    names = set()
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    names |= {f"{n}_FILE" for n in names}
    return names


def test_env_names_are_ones_the_project_reads(rendered):
    documented = _readme_variables() | {"HOME", "MPLCONFIGDIR"}  # HOME/MPLCONFIGDIR: writable /tmp
    envs = [e["name"] for _, c in _containers(rendered + plain_objects()) for e in c.get("env", [])]
    for bc in kinds(rendered, "BuildConfig"):
        envs += [e["name"] for e in bc["spec"]["strategy"].get("sourceStrategy", {}).get("env", [])]
    assert envs and set(envs) <= documented, set(envs) - documented


def test_restricted_security_context(rendered):
    for objects in (rendered, plain_objects()):
        for obj, container in _service_pods(objects):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context["readOnlyRootFilesystem"] is True
            assert obj["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts


@pytest.mark.slow
def test_probe_paths_and_env_work_on_a_running_service(rendered, kmeans_out, tmp_path):
    """The manifests' probes against a real gunicorn, started with the Deployment's own env."""
    _, container = _service_pods(rendered)[0]
    token_file = tmp_path / "token"
    token_file.write_text("t0ken\n")
    env = {e["name"]: e["value"] for e in container["env"]}
    env["NBS2I_API_TOKEN_FILE"] = str(token_file)  # the Secret's mount, here a file
    env["HOME"] = str(tmp_path)
    env["MPLCONFIGDIR"] = str(tmp_path / "mpl")
    probes = [container[p] for p in ("startupProbe", "readinessProbe", "livenessProbe")]
    knative = load_all(DEPLOY / "knative" / "service.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
    probes += [knative[p] for p in ("startupProbe", "readinessProbe", "livenessProbe")]
    paths = {probe["httpGet"]["path"] for probe in probes if "httpGet" in probe}
    assert any("grpc" in probe for probe in probes)
    env["NBS2I_GRPC_PORT"] = str(free_port())  # the manifests' 8081, moved: other tests' services may hold it
    with Service(kmeans_out, workers=1, **env) as svc:
        for path in sorted(paths):
            assert request(svc.url + path)[0] == 200, path  # probes need no token
        assert _grpc_health(svc.grpc) == "SERVING"  # what the kubelet's gRPC probe asks, with no token
        assert request(svc.url + "/predict", [0.5, 0.5])[0] == 401
        assert request(svc.url + "/predict", [0.5, 0.5], headers={"Authorization": "Bearer t0ken"})[0] == 200
        annotations = kinds(rendered, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
        metrics = request(svc.url + annotations["prometheus.io/path"])
        assert metrics[0] == 200 and "nbs2i_model_info" in metrics[2]


def _grpc_health(target: str) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


# --- KEDA, Knative, KServe and Shipwright kinds, each checked with its ecosystem's own tools ---

STREAM_PARAMS = {"MODEL_NAME": "kmeans", "REDIS_URL": "redis://:pw@redis:6379/0", "REDIS_ADDRESS": "redis:6379",
                 "REDIS_PASSWORD": "pw", "MAX_REPLICAS": "6"}
NODE_MODULES = REPO / ".venv" / "node" / "node_modules"  # scripts/test-node-deps.sh


def _typed_model_errors(objects: list[dict], tmp_path: Path) -> dict[str, str | None]:
    """{kind/name: error or None} from the npm typed models (test/crd_models.js)."""
    import json
    import os
    import subprocess

    assert NODE_MODULES.is_dir(), "scripts/test-node-deps.sh .venv installs the typed models (make test runs it)"
    listing = tmp_path / "objects.json"
    listing.write_text(json.dumps(objects))
    result = subprocess.run(["node", str(REPO / "test" / "crd_models.js"), str(listing)], capture_output=True,
                            text=True, env={**os.environ, "NODE_PATH": str(NODE_MODULES)}, check=True)
    found = [json.loads(line) for line in result.stdout.splitlines()]
    return {f"{r['kind']}/{r['name']}": r["error"] for r in found}


@pytest.fixture(scope="module")
def stream_rendered() -> list[dict]:
    return process(load_all(DEPLOY / "openshift" / "stream-template.yaml")[0], STREAM_PARAMS)


def _crd_objects(stream_rendered) -> list[dict]:
    objects = load_all(DEPLOY / "kubernetes" / "stream.yaml") + stream_rendered + load_all(DEPLOY / "knative" / "service.yaml") \
        + load_all(DEPLOY / "knative" / "service-grpc.yaml")
    return [o for o in objects if o["apiVersion"].startswith(("keda.sh/", "serving.knative.dev/"))]


def test_keda_and_knative_objects_validate_with_their_typed_models(stream_rendered, tmp_path):
    objects = _crd_objects(stream_rendered)
    assert {o["kind"] for o in objects} == {"ScaledObject", "TriggerAuthentication", "Service"}
    errors = _typed_model_errors(objects, tmp_path)
    assert len(errors) == len(objects) and not any(errors.values()), errors


def test_typed_models_would_catch_a_broken_object(stream_rendered, tmp_path):
    scaled = copy.deepcopy(next(o for o in _crd_objects(stream_rendered) if o["kind"] == "ScaledObject"))
    scaled["spec"]["minReplicaCount"] = "zero"
    knative = copy.deepcopy(load_all(DEPLOY / "knative" / "service.yaml")[0])
    knative["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    errors = _typed_model_errors([scaled, knative], tmp_path)
    assert "minReplicaCount must be integer" in errors[f"ScaledObject/{scaled['metadata']['name']}"]
    assert "containerPort must be integer" in errors["Service/model-svc"]


def test_stream_worker_scales_from_zero_on_the_groups_backlog(stream_rendered):
    for objects in (load_all(DEPLOY / "kubernetes" / "stream.yaml"), stream_rendered):
        deployment = kinds(objects, "Deployment")[0]
        scaled = kinds(objects, "ScaledObject")[0]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["NBS2I_MODE"]["value"] == "stream" and "NBS2I_REDIS_URL" in env
        assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        assert scaled["spec"]["minReplicaCount"] == 0
        trigger = scaled["spec"]["triggers"][0]
        assert trigger["type"] == "redis-streams" and int(trigger["metadata"]["lagCount"]) > 0
        assert trigger["metadata"]["stream"] == env["NBS2I_STREAM_IN"]["value"]
        assert trigger["metadata"]["consumerGroup"] == env["NBS2I_STREAM_GROUP"]["value"]
        auth = kinds(objects, "TriggerAuthentication")[0]
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        assert set(env) <= _readme_variables() | {"HOME", "MPLCONFIGDIR"}
    assert kinds(stream_rendered, "ScaledObject")[0]["spec"]["maxReplicaCount"] == 6


@pytest.mark.parametrize("name", ["stream.yaml", "score-job.yaml", "score-merge-job.yaml", "spark-score.yaml",
                                  "ray-score.yaml"])
def test_new_kubernetes_objects_validate_against_the_openapi_schemas(name, stream_rendered):
    objects = [o for o in load_all(DEPLOY / "kubernetes" / name) if not o["apiVersion"].startswith("keda.sh/")]
    if name == "stream.yaml":
        objects += [o for o in stream_rendered if not o["apiVersion"].startswith("keda.sh/")]
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_score_job_is_indexed_and_matches_the_shard_defaults():
    job = load_all(DEPLOY / "kubernetes" / "score-job.yaml")[0]
    assert job["spec"]["completionMode"] == "Indexed"
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["JOB_COMPLETIONS"]) == job["spec"]["completions"]  # the shard count nbs2i_service.score reads
    assert container["command"][1:3] == ["-m", "nbs2i_service.score"] and "--output" in container["command"]
    merge = load_all(DEPLOY / "kubernetes" / "score-merge-job.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
    assert "--merge" in merge["command"]
    assert merge["command"][merge["command"].index("--output") + 1] == container["command"][container["command"].index("--output") + 1]


@pytest.mark.parametrize("name, module", [("spark-score.yaml", "spark"), ("ray-score.yaml", "ray")])
def test_engine_jobs_run_the_engines_entry_point_with_its_own_flags(name, module):
    import subprocess
    import sys

    job = next(o for o in load_all(DEPLOY / "kubernetes" / name) if o["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert command[1:3] == ["-m", f"nbs2i_service.{module}"] and command[3] == "/opt/app-root"
    usage = subprocess.run([sys.executable, "-m", f"nbs2i_service.{module}", "--help"], capture_output=True,
                           text=True, timeout=60, check=True).stdout
    assert {flag for flag in command if flag.startswith("--")} <= set(re.findall(r"--[a-z-]+", usage))
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"model-svc-data"}
    if module == "spark":
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        submit = env["PYSPARK_SUBMIT_ARGS"]["value"].split()
        assert submit[-1] == "pyspark-shell"  # what pyspark needs to start the driver's JVM with these
        conf = dict(submit[i + 1].split("=", 1) for i, word in enumerate(submit) if word == "--conf")
        assert conf["spark.kubernetes.authenticate.driver.serviceAccountName"] == pod["serviceAccountName"]
        assert conf["spark.kubernetes.container.image"] == pod["containers"][0]["image"]
        assert conf["spark.pyspark.python"] == command[0]
        assert conf["spark.kubernetes.executor.volumes.persistentVolumeClaim.data.options.claimName"] in claims
        # $(VAR) in an env value expands only variables defined before it
        for var in re.findall(r"\$\((\w+)\)", env["PYSPARK_SUBMIT_ARGS"]["value"]):
            assert list(env).index(var) < list(env).index("PYSPARK_SUBMIT_ARGS")


def _kserve_load(data, kind: str):
    """data loaded into the kserve SDK's generated model `kind` (test/kserve_sdk.py, in a process of
    its own); its attributes as a namespace. An unknown field raises AssertionError, a missing
    required one the model's ValueError, as the SDK raised them."""
    import json
    import subprocess
    import sys
    from types import SimpleNamespace

    result = subprocess.run([sys.executable, "-m", "test.kserve_sdk", "load", kind], input=json.dumps(data),
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    if found["error"]:
        raise {"AssertionError": AssertionError, "ValueError": ValueError}[found["error"][0]](found["error"][1])
    return json.loads(json.dumps(found["loaded"]), object_hook=lambda d: SimpleNamespace(**d))


@pytest.mark.parametrize("name, kind", [("inferenceservice.yaml", "V1beta1InferenceService"),
                                        ("inferenceservice-grpc.yaml", "V1beta1InferenceService"),
                                        ("servingruntime.yaml", "V1alpha1ServingRuntime"),
                                        ("inferenceservice-runtime.yaml", "V1beta1InferenceService")])
def test_kserve_objects_load_into_the_kserve_sdk_models(name, kind):
    obj = load_all(DEPLOY / "kserve" / name)[0]
    loaded = _kserve_load(obj, kind)
    assert loaded.kind == obj["kind"]
    if kind == "V1alpha1ServingRuntime":
        assert {f.name for f in loaded.spec.supported_model_formats} == {"nbs2i"}
        assert set(loaded.spec.protocol_versions) == {"v1", "v2", "grpc-v2"}
    elif name == "inferenceservice-grpc.yaml":  # one port, h2c: KServe's gRPC; HTTP on its own in the pod
        container = loaded.spec.predictor.containers[0]
        assert [(p.name, p.container_port) for p in container.ports] == [("h2c", DEFAULT_GRPC_PORT)]
        env = {e.name: e.value for e in container.env}
        assert (int(env["NBS2I_GRPC_PORT"]), int(env["NBS2I_HTTP_PORT"])) == (DEFAULT_GRPC_PORT, DEFAULT_PORT)
    elif loaded.spec.predictor.containers:
        container = loaded.spec.predictor.containers[0]
        assert container.ports[0].container_port == DEFAULT_PORT
        assert container.readiness_probe.http_get.path == "/v2/health/ready"
    else:
        runtime = load_all(DEPLOY / "kserve" / "servingruntime.yaml")[0]
        assert loaded.spec.predictor.model.runtime == runtime["metadata"]["name"]
        assert loaded.spec.predictor.model.model_format.name == "nbs2i"


def test_kserve_loading_would_catch_a_broken_object():
    obj = copy.deepcopy(load_all(DEPLOY / "kserve" / "inferenceservice.yaml")[0])
    obj["spec"]["predictor"]["containers"][0]["port"] = 8080
    with pytest.raises(AssertionError, match="has no field"):
        _kserve_load(obj, "V1beta1InferenceService")
    del obj["spec"]["predictor"]["containers"][0]["port"]
    obj["spec"]["predictor"]["containers"][0]["ports"][0].pop("containerPort")
    with pytest.raises(ValueError, match="container_port|containerPort"):
        _kserve_load(obj, "V1beta1InferenceService")


def test_shipwright_build_has_the_fields_its_documentation_requires():
    """No schema package for Shipwright exists; these are the fields shipwright.io/v1beta1 requires
    of a Build and a BuildRun, and the source-to-image strategy's builder-image parameter."""
    build = load_all(DEPLOY / "openshift" / "shipwright-build.yaml")[0]
    run = load_all(DEPLOY / "openshift" / "shipwright-buildrun.yaml")[0]
    assert (build["apiVersion"], build["kind"]) == ("shipwright.io/v1beta1", "Build") and build["metadata"]["name"]
    spec = build["spec"]
    assert spec["source"]["type"] == "Git" and spec["source"]["git"]["url"].startswith("https://")
    assert spec["strategy"] == {"name": "source-to-image", "kind": "ClusterBuildStrategy"}
    params = {p["name"]: p["value"] for p in spec["paramValues"]}
    assert params["builder-image"].endswith("nb-builder:latest")
    assert spec["output"]["image"]
    assert set(spec) <= {"source", "strategy", "paramValues", "output", "env", "timeout", "retention", "volumes",
                         "trigger", "nodeSelector", "tolerations", "schedulerName"}
    assert all(e["name"] in _readme_variables() for e in spec.get("env", []))
    assert (run["apiVersion"], run["kind"]) == ("shipwright.io/v1beta1", "BuildRun")
    assert run["spec"]["build"]["name"] == build["metadata"]["name"]
