"""Which packages go into the build environment and which into the served one."""
from __future__ import annotations

from nbs2i import environments
from nbs2i.requirements import make


def test_build_environment_adds_ipython_unless_the_notebook_names_one():
    specs = environments.build_specs([make("numpy==1.26.4", "cell 1")])
    assert specs[0] == "numpy==1.26.4" and "ipython>=8.18,<9" in specs and "cloudpickle>=3" in specs
    own = environments.build_specs([make("IPython>=9", "cell 1")])
    assert "IPython>=9" in own and not any(s.startswith("ipython>=8") for s in own)


def test_served_environment_keeps_the_model_and_drops_notebook_tooling(capsys):
    specs = environments.served_specs([make("pandas", "cell 1"), make("ipywidgets", "cell 2"),
                                       make("nbformat==5.10.4", "cell 3")])
    assert specs[0] == "pandas" and "gunicorn>=22" in specs
    assert not [s for s in specs if s.startswith(("ipywidgets", "nbformat"))]
    assert "notebook tooling): ipywidgets, nbformat==5.10.4" in capsys.readouterr().err
