"""NBS2I_RELAX_PINS: pins moved to their nearest release, the era read from an index's JSON API,
and the clash of a notebook's pin with nbs2i's own requirement worded as such."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nbs2i import nearest, specifiers, venv
from nbs2i.requirements import make
from nbs2i_service.config import load_config

# PEP 691 answers of a loopback index: two releases of "demo", one of "other", one file without a time.
PROJECTS = {
    "demo": [{"filename": "demo-1.0.tar.gz", "upload-time": "2022-10-25T09:00:00.000000Z"},
             {"filename": "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "upload-time": "2022-11-02T09:00:00Z"},
             {"filename": "demo-2.0-py3-none-any.whl", "upload-time": "2024-05-01T09:00:00Z"}],
    "other": [{"filename": "other-0.5-py3-none-any.whl", "upload-time": "2021-03-04T12:00:00Z"}],
    "untimed": [{"filename": "untimed-1.0-py3-none-any.whl"}],
}


class _Index(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        name = self.path.strip("/").split("/")[-1]
        if name not in PROJECTS or "application/vnd.pypi.simple.v1+json" not in self.headers.get("Accept", ""):
            self.send_error(404)
            return
        body = json.dumps({"name": name, "files": PROJECTS[name]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def index():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/simple"
    server.shutdown()


def test_the_era_is_the_day_after_the_newest_nearest_release_came_out(index):
    config = load_config({"PIP_INDEX_URL": index})
    # a release's day is its first file's: demo 1.0's source came out before its wheel
    assert nearest.era({"demo": "1.0", "other": "0.5"}, config) == "2022-10-26"
    assert nearest.era({"other": "0.5"}, config) == "2021-03-05"


@pytest.mark.parametrize("found", [{"demo": "1.0", "untimed": "1.0"}, {"demo": "1.5"}, {"missing": "1.0"}, {}])
def test_no_era_when_the_index_does_not_say_when_every_release_came_out(index, found):
    assert nearest.era(found, load_config({"PIP_INDEX_URL": index})) is None


def test_no_era_from_a_local_folder_index():
    assert nearest.era({"demo": "1.0"}, load_config({"PIP_INDEX_URL": "file:///opt/pypi/simple"})) is None


def test_nearest_versions_replace_the_relaxed_pins_markers_and_extras_kept():
    floors, relaxed = specifiers.relax([make("numpy==1.19.0", "requirements.txt line 1"),
                                        make("pandas[excel]~=1.1; python_version >= '3'", "cell 2"),
                                        make("tabulate==0.8.10", "cell 3"), make("six", "cell 4")])
    reqs, moved = nearest.apply(floors, relaxed, {"numpy": "1.23.2", "pandas": "1.5.0", "tabulate": "0.8.10"})
    assert [r.text for r in reqs] == ["numpy==1.23.2", 'pandas[excel]==1.5.0; python_version >= "3"',
                                      "tabulate==0.8.10", "six"]
    assert [(r.pinned, r.relaxed) for r in moved] == [("==1.19.0", "==1.23.2"), ("~=1.1", "==1.5.0"),
                                                      ("==0.8.10", "==0.8.10")]
    assert [nearest.unchanged(r) for r in moved] == [False, False, True]
    # a pin uv found no release for stays a lower bound
    assert [r.text for r in nearest.apply(floors, relaxed, {})[0]][:1] == ["numpy>=1.19.0"]


# the shape of uv's answer (0.13) when a pin meets none of IPython's releases
UV_CLASH = """Using Python 3.11.7 environment at: /tmp/env
error: No solution found when resolving dependencies
  cause: Because all of:
             ipython>=8.0.0,<=8.12.3
         depend on traitlets>=5.
         And because you require traitlets==4.3.3 and ipython>=8,<9, we can conclude that your requirements are unsatisfiable.
"""


def test_a_pin_that_cannot_meet_nbs2is_own_requirement_is_worded_so():
    failing = [make("traitlets==4.3.3", "requirements.txt line 7")]
    clashes = venv._ours_named(UV_CLASH, ["ipython>=8,<9", "nbformat>=5", "cloudpickle>=2.2"])
    assert clashes == {"ipython": "ipython>=8,<9"}
    hint = venv._clash_hint(clashes, failing)
    assert ("ipython>=8,<9 is nbs2i's own requirement (what runs the notebook or serves the model), and the versions "
            "the notebook's requirements lead to cannot meet it.") in hint
    assert "Loosen the notebook's pin to a range that admits nbs2i's, or set NBS2I_RELAX_PINS=1" in hint
    # a name inside another name is not a mention
    assert venv._ours_named("error: Because ipython-genutils==0.1 ...", ["ipython>=8,<9"]) == {}


def test_trying_whether_a_release_imports_leaves_no_bytecode_behind(tmp_path):
    """The build environment keeps bytecode in its own folder, which installing another release does
    not clear: a trial's compiled __init__ of the same size and second would be imported in place of
    the release chosen (a clean-clone build ran boto3 1.10.2 and served 1.10.0)."""
    import subprocess
    import sys

    env = tmp_path / "env"
    subprocess.run(["uv", "venv", "--quiet", "--python", sys.executable, str(env)], check=True)
    site = next((env / "lib").glob("python3*/site-packages"))
    (site / "demo").mkdir()
    (site / "demo" / "__init__.py").write_text("__version__ = '1.10.2'\nimport collections\n")
    info = site / "demo-1.10.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.10.2\n")
    (info / "top_level.txt").write_text("demo\n")
    assert nearest._import_error(env, "demo") is None
    (site / "demo" / "__init__.py").write_text("raise ImportError('does not import')\n")
    assert nearest._import_error(env, "demo") == "ImportError: does not import"  # the import was tried
    assert [p for p in env.rglob("*.pyc") if "demo" in p.parts] == []
