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

from nbs2i_service.config import DEFAULT_PORT
from test.helpers import REPO, Service, request
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


@pytest.mark.parametrize("source", ["template", "kubernetes", "knative"])
def test_ports_services_and_routes_agree(rendered, source):
    objects = {"template": rendered, "kubernetes": plain_objects(),
               "knative": load_all(DEPLOY / "knative" / "service.yaml")}[source]
    for _, container in _service_pods(objects):
        assert container["ports"][0]["containerPort"] == DEFAULT_PORT
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            port = container[probe]["httpGet"].get("port")
            assert port in (None, container["ports"][0].get("name"), DEFAULT_PORT)
    for service in kinds(objects, "Service"):
        if service["apiVersion"] != "v1":
            continue
        target = service["spec"]["ports"][0]["targetPort"]
        assert target in [p.get("name") for _, c in _service_pods(objects) for p in c["ports"]]
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
    paths = {container[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    knative = load_all(DEPLOY / "knative" / "service.yaml")[0]["spec"]["template"]["spec"]["containers"][0]
    paths |= {knative[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    with Service(kmeans_out, workers=1, **env) as svc:
        for path in sorted(paths):
            assert request(svc.url + path)[0] == 200, path  # probes need no token
        assert request(svc.url + "/predict", [0.5, 0.5])[0] == 401
        assert request(svc.url + "/predict", [0.5, 0.5], headers={"Authorization": "Bearer t0ken"})[0] == 200
        annotations = kinds(rendered, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
        metrics = request(svc.url + annotations["prometheus.io/path"])
        assert metrics[0] == 200 and "nbs2i_model_info" in metrics[2]
