"""nb-builder and nb-runtime built with the Dockerfile, and examples/kmeans built into model
images both ways (runtime image, single stage), run with podman as an arbitrary UID.

Real buildah/podman with the settings in scripts/containers/ (no Docker daemon here), FROM a
stand-in base image made with debootstrap (scripts/make-base-image.sh), since no registry
can be pulled from.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from test.helpers import BASE_IMAGE as BASE, NBS2I, REPO, engine_env, free_port, request, write_notebook

pytestmark = [pytest.mark.slow, pytest.mark.image]

BUILDER, RUNTIME = "localhost/nb-builder", "localhost/nb-runtime"
RT, SS = "localhost/nbs2i-test-kmeans-rt", "localhost/nbs2i-test-kmeans-ss"
JUPYTER = {"jupyter", "jupyter-core", "jupyter-client", "nbconvert", "nbformat", "ipykernel", "ipython", "notebook"}


def run(*cmd: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, env=engine_env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("podman", *args, check=check)


def size_mb(image: str) -> float:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip()) / 1e6


def install_seconds(log: str) -> float:
    return float(re.search(r"---> installed in ([\d.]+) s", log).group(1))


@pytest.fixture(scope="module")
def images():
    assert shutil.which("podman") and shutil.which("buildah"), "make test installs podman and buildah"
    # `make images` as a new user runs it: no variable set. The host's podman settings, the
    # unreachable registry and the stand-in base are the script's to find out.
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENGINE", "BASE_IMAGE", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "BUILDAH_ISOLATION")}
    made = subprocess.run(["make", "-C", str(REPO), "images"], env=env, capture_output=True, text=True, timeout=1800)
    assert made.returncode == 0, made.stderr[-3000:]
    assert "FROM localhost/nbs2i-base:bookworm" in made.stderr
    if "docker.io" not in podman("images", "--format", "{{.Repository}}").stdout:
        assert "cannot pull docker.io/library/python:3.11-slim-bookworm" in made.stderr
    yield
    for image in (RT, SS):
        podman("rmi", "-f", image, check=False)
    podman("image", "prune", "-f", check=False)


@pytest.fixture(scope="module")
def kmeans_src(tmp_path_factory) -> Path:
    """examples/kmeans with a .s2i/environment, as a user's repository would carry it."""
    src = tmp_path_factory.mktemp("repo") / "kmeans"
    shutil.copytree(REPO / "examples" / "kmeans", src)
    (src / ".s2i").mkdir()
    (src / ".s2i" / "environment").write_text("# read by s2i and nbs2i image\nNBS2I_MODEL_NAME=kmeans-svc\n")
    return src


@pytest.fixture(scope="module")
def signing_keys(tmp_path_factory) -> tuple[Path, Path]:
    """An ECDSA P-256 pair (private, public), made with openssl as docs/deploy.md says."""
    folder = tmp_path_factory.mktemp("keys")
    folder.chmod(0o755)  # the public key is mounted for an arbitrary UID; the private one stays 0600
    private, public = folder / "private.pem", folder / "public.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(private)], check=True)
    subprocess.run(["openssl", "ec", "-in", str(private), "-pubout", "-out", str(public)], check=True,
                   capture_output=True)
    return private, public


@pytest.fixture(scope="module")
def runtime_image(images, kmeans_src, signing_keys, report):
    """The runtime-path image, signed: the key given to the build as a secret."""
    started = time.monotonic()
    run(NBS2I, "image", str(kmeans_src), "--tag", RT, "--builder", BUILDER, "--runtime", RUNTIME,
        "--signing-key", str(signing_keys[0]))
    report.append(f"runtime-path model image (signed) built in {time.monotonic() - started:.0f} s")
    return RT


@pytest.fixture(scope="module")
def single_stage_image(images, kmeans_src, report):
    started = time.monotonic()
    first = run(NBS2I, "image", str(kmeans_src), "--tag", SS, "--builder", BUILDER, "--single-stage", "--incremental")
    first_s = time.monotonic() - started
    (kmeans_src / "CHANGES.md").write_text("a new commit: the source changed\n")  # what a rebuild is for
    started = time.monotonic()
    second = run(NBS2I, "image", str(kmeans_src), "--tag", SS, "--builder", BUILDER, "--single-stage", "--incremental")
    second_s = time.monotonic() - started
    report.append(f"single-stage build: first {first_s:.0f} s (install {install_seconds(first.stderr):.1f} s), "
                  f"incremental {second_s:.0f} s (install {install_seconds(second.stderr):.1f} s)")
    return SS, first.stderr, second.stderr


def test_builder_image_labels_and_usage(images):
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Config.Labels}}", BUILDER).stdout)
    assert labels["io.openshift.s2i.scripts-url"] == "image:///usr/libexec/s2i"
    assert labels["io.openshift.expose-services"] == "8080:http,8081:grpc"
    assert "builder" in labels["io.openshift.tags"] and labels["io.k8s.description"]
    usage = podman("run", "--rm", BUILDER).stdout
    assert "s2i build" in usage and "podman run" in usage and "curl" in usage
    user = podman("image", "inspect", "--format", "{{.Config.User}}", BUILDER).stdout.strip()
    assert user == "1001"


def test_runtime_image_is_slim(images):
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Config.Labels}}", RUNTIME).stdout)
    assert labels["io.openshift.s2i.assemble-input-files"] == \
        "/opt/app-root/venv;/opt/app-root/model;/opt/app-root/service"
    found = podman("run", "--rm", "--entrypoint", "sh", RUNTIME, "-c",
                   "ls /usr/libexec/s2i; ls /opt/nbs2i 2>&1; command -v gcc cc nbs2i || true").stdout
    assert "assemble-runtime" in found and "run" in found and "assemble\n" not in found
    assert "No such file" in found and "gcc" not in found and "nbs2i" not in found.split("No such file")[-1]


def _serve_and_stop(image: str, name: str, *options: str) -> float:
    """Run image as an arbitrary UID in group 0, predict, SIGTERM; return seconds to stop."""
    port, grpc_port = free_port(), free_port()
    cid = podman("run", "-d", "--user", "1000680000:0", "-e", f"PORT={port}", "-e", f"NBS2I_GRPC_PORT={grpc_port}",
                 *options, image).stdout.strip()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request(url + "/health/ready")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError(f"{image} never became ready:\n{podman('logs', cid, check=False).stderr[-3000:]}")
        status, _, body = request(url + "/predict", [0.5, 0.5])
        assert status == 200 and len(body["prediction"]) == 2, podman("logs", cid).stderr
        assert request(f"{url}/v1/models/{name}")[2] == {"name": name, "ready": True}
        import tritonclient.grpc as triton  # the Open Inference Protocol over gRPC, from the image's workers

        assert triton.InferenceServerClient(f"127.0.0.1:{grpc_port}").is_model_ready(name)
        started = time.monotonic()
        podman("stop", "-t", "20", cid)
        stopped = time.monotonic() - started
        state = json.loads(podman("inspect", "--format", "{{json .State}}", cid).stdout)
        assert state["ExitCode"] == 0, podman("logs", cid).stderr
        assert stopped < 15  # SIGTERM reached gunicorn (PID 1), not the 20 s SIGKILL fallback
        return stopped
    finally:
        podman("rm", "-f", cid, check=False)


def test_runtime_model_image_serves_as_arbitrary_uid(runtime_image, signing_keys):
    # the name comes from .s2i/environment; the public key is mounted as a cluster mounts its Secret
    _serve_and_stop(runtime_image, "kmeans-svc", "-v", f"{signing_keys[1].parent}:/var/run/secrets/nbs2i-verify:ro",
                    "-e", "NBS2I_VERIFY_KEY_FILE=/var/run/secrets/nbs2i-verify/public.pem")


def test_signed_image_carries_its_bill_of_materials_and_verifies_with_model_signing(runtime_image, signing_keys):
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Config.Labels}}", runtime_image).stdout)
    paths = [labels[k] for k in ("io.nbs2i.sbom", "io.nbs2i.sbom.build", "io.nbs2i.provenance", "io.nbs2i.signature")]
    listed = podman("run", "--rm", "--entrypoint", "ls", runtime_image, *paths).stdout.split()
    assert listed == sorted(paths)
    bom = json.loads(podman("run", "--rm", "--entrypoint", "cat", runtime_image, labels["io.nbs2i.sbom"]).stdout)
    assert "scikit-learn" in {c["name"].lower() for c in bom["components"]}
    # The image's own model_signing (in its venv) checks the signature, as a security team would
    keys = f"{signing_keys[1].parent}:/keys:ro"
    verified = podman("run", "--rm", "-v", keys, "--entrypoint", "/opt/app-root/venv/bin/model_signing", runtime_image,
                      "verify", "key", "/opt/app-root/model", "--signature", labels["io.nbs2i.signature"],
                      "--public_key", "/keys/public.pem", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The key itself reached the build as a secret: it is in no layer, nor in the image's settings
    env = podman("image", "inspect", "--format", "{{json .Config.Env}}", runtime_image).stdout
    assert "SIGNING" not in env
    private = signing_keys[0].read_text().split("-----")[2].strip().splitlines()[0]
    found = podman("run", "--rm", "--entrypoint", "sh", runtime_image, "-c",
                   f"ls /run/secrets 2>/dev/null; grep -rlF '{private}' /opt/app-root 2>/dev/null || true").stdout
    assert found.strip() == "", found


def test_single_stage_model_image_serves_as_arbitrary_uid(single_stage_image):
    _serve_and_stop(single_stage_image[0], "kmeans-svc")


def test_runtime_model_image_has_no_jupyter_and_is_smaller(runtime_image, single_stage_image, report):
    listing = podman("run", "--rm", "--entrypoint", "/opt/app-root/venv/bin/python", runtime_image, "-c",
                     "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))")
    names = {line.strip().lower() for line in listing.stdout.splitlines()}
    assert "scikit-learn" in names and "gunicorn" in names
    assert not names & JUPYTER
    assert "/opt/nbs2i" not in podman("run", "--rm", "--entrypoint", "sh", runtime_image, "-c", "ls -d /opt/*").stdout
    rt, ss, base = size_mb(runtime_image), size_mb(single_stage_image[0]), size_mb(BASE)
    report.append(f"image sizes: base {base:.0f} MB, nb-builder {size_mb(BUILDER):.0f} MB, nb-runtime "
                  f"{size_mb(RUNTIME):.0f} MB, kmeans runtime-path {rt:.0f} MB, kmeans single-stage {ss:.0f} MB")
    assert rt < ss


def test_incremental_build_reuses_the_package_cache(single_stage_image):
    _, first, second = single_stage_image
    assert "no previous" in first or "restored the package cache" in first
    assert "restored the package cache of " + SS in second
    assert "Restoring the package cache from the previous build" in second
    # uv's "Prepared N packages" counts what it had to download or build: with the saved
    # cache, nothing (the times are in the report, not asserted).
    assert re.search(r"Prepared \d+ packages", first)
    assert "Installed " in second and not re.search(r"Prepared \d+ packages", second)


def test_save_artifacts_prints_only_a_tar_stream(single_stage_image, tmp_path):
    out = subprocess.run(["podman", "run", "--rm", single_stage_image[0], "/usr/libexec/s2i/save-artifacts"],
                         env=engine_env(), capture_output=True, timeout=300)
    assert out.returncode == 0
    (tmp_path / "a.tar").write_bytes(out.stdout)
    names = subprocess.run(["tar", "-tf", str(tmp_path / "a.tar")], capture_output=True, text=True, check=True).stdout
    assert names.startswith("cache/")


def test_failing_notebook_fails_the_image_build_with_the_cell_error(images, tmp_path):
    write_notebook(tmp_path / "repo", "x = 1", "y = x / 0", "def predictor(s):\n    return s")
    result = run(NBS2I, "image", str(tmp_path / "repo"), "--tag", "localhost/nbs2i-test-broken",
                 "--builder", BUILDER, "--single-stage", check=False)
    assert result.returncode == 1
    log = result.stdout + result.stderr
    assert "cell 2 raised ZeroDivisionError: division by zero" in log
    assert "y = x / 0" in log
    assert "ERROR: podman could not build localhost/nbs2i-test-broken" in result.stderr


def test_dockerfile_only_writes_the_two_stages(images, kmeans_src, tmp_path):
    path = tmp_path / "Dockerfile"
    run(NBS2I, "image", str(kmeans_src), "--tag", "x", "--dockerfile-only", str(path))
    text = path.read_text()
    assert "FROM nb-builder AS assemble" in text
    assert re.search(r"RUN --mount=type=bind,source=src,target=/tmp/src-in NBS2I_BUILD_NONCE=[0-9a-f]{32} sh -c "
                     r"'cp -R /tmp/src-in /tmp/src && exec /usr/libexec/s2i/assemble'\n", text)
    assert 'ENV NBS2I_MODEL_NAME="kmeans-svc"' in text
    assert "FROM nb-runtime" in text and "COPY --from=assemble --chown=1001:0 /opt/app-root/venv /opt/app-root/venv" in text
    assert text.rstrip().endswith('CMD ["/usr/libexec/s2i/run"]')
