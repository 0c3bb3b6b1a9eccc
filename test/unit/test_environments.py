"""Which packages go into the build environment and which into the served one."""
from __future__ import annotations

from nbs2i import environments
from nbs2i.requirements import make


def test_build_environment_adds_ipython_unless_the_notebook_names_one():
    specs = environments.build_specs([make("numpy==1.26.4", "cell 1")])
    assert specs == ["numpy==1.26.4", "ipython>=8,<9", "nbformat>=5", "cloudpickle>=2.2", "ipywidgets>=7"]
    own = environments.build_specs([make("IPython>=9", "cell 1"), make("Flask==1.1.2", "requirements.txt line 4")])
    # the service's packages stay out: the notebook's Flask pin is its own business there
    assert own == ["IPython>=9", "Flask==1.1.2", "nbformat>=5", "cloudpickle>=2.2", "ipywidgets>=7"]


def test_served_environment_keeps_the_model_and_drops_notebook_tooling(capsys):
    specs = environments.served_specs([make("pandas", "cell 1"), make("ipywidgets", "cell 2"),
                                       make("nbformat==5.10.4", "cell 3")])
    assert specs == ["pandas"]
    assert not [s for s in specs if s.startswith(("ipywidgets", "nbformat"))]
    assert "notebook tooling): ipywidgets, nbformat==5.10.4" in capsys.readouterr().err


def _dist(version, modules=(), requires=(), direct_url=None):
    return {"version": version, "modules": list(modules), "requires": list(requires), "direct_url": direct_url}


PROBED = {  # what probe.py reports for a notebook that trained with pandas and plotted with matplotlib
    "pickle": ["sklearn.cluster._kmeans", "numpy._core.multiarray", "copyreg", "__main__"],
    "code": ["math"], "loaded": ["sklearn", "scipy.sparse", "threadpoolctl"],
    "markers": {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"},
    "distributions": {
        "numpy": _dist("1.26.4", ["numpy"]),
        "scikit-learn": _dist("1.5.2", ["sklearn"], ["numpy>=1.19.5", "scipy>=1.6.0", "joblib>=1.2.0",
                                                      "threadpoolctl>=3.1.0", "pytest>=7.1.2; extra == 'tests'"]),
        "scipy": _dist("1.14.1", ["scipy"], ["numpy<2.3,>=1.23.5"]),
        "joblib": _dist("1.4.2", ["joblib"]), "threadpoolctl": _dist("3.5.0", ["threadpoolctl"]),
        "pandas": _dist("2.2.3", ["pandas"], ["numpy>=1.23.2", "tzdata>=2022.7"]),
        "tzdata": _dist("2024.2", ["tzdata"]), "pytest": _dist("8.3.3", ["pytest"]),
        "matplotlib": _dist("3.9.2", ["matplotlib", "pylab"], ["pyparsing>=2.3.1", "colorama; sys_platform == 'win32'"]),
        "pyparsing": _dist("3.2.0", ["pyparsing"]),
        "ipython": _dist("8.29.0", ["IPython"], ["traitlets"]), "traitlets": _dist("5.14.3", ["traitlets"]),
        "flask": _dist("3.1.0", ["flask"], ["werkzeug>=3.1"]), "werkzeug": _dist("3.1.3", ["werkzeug"]),
        "features": _dist("0.1", ["features"], direct_url={"url": "file:///src/features", "dir_info": {}}),
    }}


def test_serving_needs_only_what_the_artifact_uses():
    from nbs2i import serving

    found = serving.needs(PROBED, keep=[])
    assert found.served == ["joblib==1.4.2", "numpy==1.26.4", "scikit-learn==1.5.2", "scipy==1.14.1",
                            "threadpoolctl==3.5.0"]
    # the notebook's own Flask (a web app beside it) is not the service's: left out, never a pin for the service
    assert {p.split("==")[0] for p in found.left_out} == {"pandas", "tzdata", "pytest", "matplotlib", "pyparsing",
                                                          "ipython", "traitlets", "features", "flask", "werkzeug"}
    assert found.modules == ["numpy", "sklearn"] and found.providers["sklearn"] == "scikit-learn"
    # what loading imported is not installed up front (often optional): the smoke test adds it on demand
    assert found.loaded == ["scipy", "sklearn", "threadpoolctl"]
    assert found.on_demand["pandas"] == "pandas==2.2.3" and "IPython" not in found.on_demand


def test_kept_packages_and_direct_urls():
    from nbs2i import serving

    report = dict(PROBED, code=["pandas", "features.clean"])
    served = serving.needs(report, keep=["matplotlib"]).served
    assert {"pandas==2.2.3", "tzdata==2024.2", "matplotlib==3.9.2", "pyparsing==3.2.0",
            "features @ file:///src/features"} <= set(served)
    assert "colorama" not in " ".join(served)  # its marker is for Windows


def test_readme_names_every_package_the_service_installs():
    from packaging.requirements import Requirement

    from nbs2i.environments import SERVICE_REQUIREMENTS
    from test.helpers import REPO

    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `OUT/venv/` |"))
    for spec in SERVICE_REQUIREMENTS:
        requirement = Requirement(spec)
        assert requirement.name in row, requirement.name
        for extra in requirement.extras:
            assert extra in row, extra


def test_imports_left_unprovided_get_their_packages_and_a_failed_install_is_only_a_warning(
        tmp_path, monkeypatch, capsys):
    # The installer is replaced here (a well-known package that fails to install for real would need a
    # broken index): what is tested is which packages are asked for, and that a failed install stops nothing.
    from nbs2i import venv
    from nbs2i.errors import InstallError
    from nbs2i_service.config import load_config

    asked = []

    def install(env, specs, config, requirements, what, ours=(), as_of=None, exempt=None):
        asked.append((specs, as_of))
        raise InstallError("uv failed installing\n    error: no wheel for this platform")

    from nbs2i import nearest

    monkeypatch.setattr(nearest, "released_day", lambda name, version, config: None)  # no index here

    monkeypatch.setattr(venv, "missing_modules", lambda env, modules, cwd: ["pandas", "sklearn", "zzlocal"])
    monkeypatch.setattr(venv, "install", install)
    declared = [make("scikit-learn==1.5.2", "requirements.txt line 1")]
    added = environments.add_imported(tmp_path, declared, {"pandas": "cell 1", "sklearn": "cell 2", "zzlocal": "cell 3"},
                                      tmp_path, load_config({}), era="2022-10-27")
    assert added == []
    assert [a[1] for a in asked] == ["2022-10-27", None]  # as of the era, then newest
    assert asked[0][0][:2] == ["scikit-learn==1.5.2", "pandas"]  # sklearn is declared already
    err = capsys.readouterr().err
    assert "cell 3 imports 'zzlocal', which no requirement installed and which is not a well-known import name" in err
    assert "pandas (imported in cell 1, not declared)" in err
    assert "warning: they did not install (error: no wheel for this platform); going on without them" in err
