"""Import names and the distributions that provide them, for notebooks that do not say.

Only well-known names are mapped: installing whatever package shares an import's name
invites typosquats, so an import this table does not know is named in an error instead.
"""
from __future__ import annotations

import ast
import functools
import os
import sys
from pathlib import Path

import nbformat

from . import cells as cells_mod
from .errors import RequirementsError
from .source import Source

# import name -> distribution on PyPI. Names that differ come first; the rest are common
# data-science imports whose distribution has the same name.
DISTRIBUTIONS = {
    "sklearn": "scikit-learn", "pkg_resources": "setuptools", "threadpoolctl": "threadpoolctl", "yaml": "pyyaml", "cv2": "opencv-python-headless", "PIL": "pillow",
    "bs4": "beautifulsoup4", "skimage": "scikit-image", "dateutil": "python-dateutil", "dotenv": "python-dotenv",
    "Crypto": "pycryptodome", "jwt": "PyJWT", "attr": "attrs", "imblearn": "imbalanced-learn",
    "umap": "umap-learn", "category_encoders": "category-encoders", "sentence_transformers": "sentence-transformers",
    "fitz": "PyMuPDF", "docx": "python-docx", "pptx": "python-pptx", "serial": "pyserial", "psycopg2": "psycopg2-binary",
    "pymysql": "PyMySQL", "kafka": "kafka-python", "OpenSSL": "pyOpenSSL",
    "tensorflow_hub": "tensorflow-hub", "sklearn_crfsuite": "sklearn-crfsuite", "Levenshtein": "levenshtein",
    "mpl_toolkits": "matplotlib", "pylab": "matplotlib", "gensim": "gensim", "git": "GitPython",
    "magic": "python-magic", "slugify": "python-slugify", "multipart": "python-multipart", "sqlalchemy": "SQLAlchemy",
    "xlsxwriter": "XlsxWriter", "skopt": "scikit-optimize", "bayes_opt": "bayesian-optimization",
    "keras_tuner": "keras-tuner", "tensorflow_datasets": "tensorflow-datasets", "pytorch_lightning": "pytorch-lightning",
    "faiss": "faiss-cpu", "surprise": "scikit-surprise", "feature_engine": "feature-engine", "scikitplot": "scikit-plot",
    "pandas_datareader": "pandas-datareader", "ydata_profiling": "ydata-profiling", "unidecode": "Unidecode",
    "stable_baselines3": "stable-baselines3", "community": "python-louvain", "flask": "Flask", "netCDF4": "netCDF4",
    "PyPDF2": "PyPDF2", "pyLDAvis": "pyLDAvis", "vaderSentiment": "vaderSentiment",
    **{name: name for name in (
        "numpy", "pandas", "scipy", "matplotlib", "seaborn", "statsmodels", "plotly", "bokeh", "altair", "xgboost",
        "lightgbm", "catboost", "torch", "torchvision", "torchaudio", "tensorflow", "keras", "jax", "flax", "transformers",
        "datasets", "tokenizers", "nltk", "spacy", "textblob", "wordcloud", "requests", "joblib", "tqdm", "networkx",
        "sympy", "numba", "pyarrow", "polars", "duckdb", "h5py", "tables", "openpyxl", "xlrd", "lxml", "jinja2",
        "shap", "optuna", "hyperopt", "hdbscan", "mlxtend", "pmdarima", "prophet", "sktime", "tabulate",
        "cloudpickle", "dill", "graphviz", "pydot", "folium", "xarray", "dask", "redis", "pymongo", "onnx",
        "onnxruntime", "skl2onnx", "einops", "timm", "albumentations", "imageio", "tifffile", "librosa",
        "soundfile", "pydub", "emcee", "arviz", "pymc", "lifelines", "gymnasium", "gym", "mglearn", "patsy",
        "pyod", "eli5", "lime", "missingno", "yellowbrick", "pydantic", "boto3", "fastai", "ipywidgets", "six",
        "toolz", "regex", "ujson", "orjson", "msgpack", "zmq", "psutil", "sqlparse", "httpx", "aiohttp",
        "pypdf", "pdfplumber", "lightning", "torchmetrics", "torchtext", "evaluate", "accelerate", "sentencepiece",
        "pydotplus", "dtreeviz", "statsforecast", "yfinance", "geopandas", "shapely", "pyproj", "squarify", "imutils",
        "emoji", "termcolor", "rich", "toml", "streamlit", "gradio", "dash", "fastapi", "uvicorn", "mlflow", "wandb",
        "tensorboard", "igraph", "pyvis", "pygame", "numexpr", "bottleneck", "fastparquet", "zarr", "pyspark",
        "findspark", "sweetviz", "pycaret", "featuretools", "tpot", "interpret", "annoy", "gdown", "kaggle", "openai",
        "tiktoken", "langchain", "contractions", "inflect")},
}
# Google Colab's own modules: no package provides them elsewhere (the cell fails as in Jupyter, with a hint).
COLAB_ONLY = ("google.colab",)
# What the build environment provides for every notebook (IPython runs the cells).
PROVIDED = {"IPython", "ipykernel", "matplotlib_inline", "traitlets", "nbformat", "cloudpickle", "ipywidgets",
            "nbs2i_service"}


def distribution(module: str) -> str | None:
    """The distribution that provides a top-level import name, if it is a well-known one."""
    return DISTRIBUTIONS.get(module) or DISTRIBUTIONS.get(module.split(".")[0])


def needed(nb: nbformat.NotebookNode, source: Source) -> dict[str, str]:
    """Top-level modules the notebook imports that a package must provide (module -> first cell):
    not the standard library, not what the build provides, not the repository's own modules."""
    found: dict[str, str] = {}
    for module, origin in _imports(nb, source.notebook):
        if module in sys.stdlib_module_names or module in PROVIDED or _in_source(module, source):
            continue
        found.setdefault(module, origin)
    return found


def infer(nb: nbformat.NotebookNode, source: Source) -> list[str]:
    """Distributions for a notebook that declares no requirements, from its imports."""
    wanted, unknown = [], []
    for module, origin in needed(nb, source).items():
        name = distribution(module)
        if name is None:
            unknown.append(f"{module} ({origin})")
        elif name not in wanted:
            wanted.append(name)
    if unknown:
        raise RequirementsError(
            f"{source.notebook.name} declares no requirements, and nbs2i does not know which package provides "
            f"{', '.join(unknown)}; it does not guess (a look-alike name could be anybody's package). Declare them: "
            'requirements = ["package", ...] in a cell, or requirements.txt beside the notebook.')
    if wanted:
        print(f"---> {source.notebook.name} declares no requirements; inferred from its imports: {', '.join(wanted)}",
              file=sys.stderr, flush=True)
    return wanted


def _imports(nb: nbformat.NotebookNode, notebook: Path) -> list[tuple[str, str]]:
    """(top-level module, where) of every import the notebook needs: not those a `try` guards
    against ImportError (optional), not the modules the notebook writes itself (`%%writefile x.py`)."""
    found, written = [], set()
    for cell in cells_mod.code_cells(nb):
        tree = cells_mod.static_tree(cell)
        if tree is None:
            continue
        optional = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) and _guards_import(t)
                    for stmt in t.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            written |= _written_module(node)
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                found += [(alias.name.split(".")[0], f"cell {cell.index}") for alias in node.names
                          if not alias.name.startswith(COLAB_ONLY)]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and not node.module.startswith(COLAB_ONLY):
                found.append((node.module.split(".")[0], f"cell {cell.index}"))
    return [(module, where) for module, where in found if module not in written]


def _guards_import(node: ast.Try) -> bool:
    names = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
    for handler in node.handlers:
        caught = handler.type
        kinds = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if caught is None or any(isinstance(k, ast.Name) and k.id in names for k in kinds):
            return True
    return False


def _written_module(node: ast.AST) -> set[str]:
    """`%%writefile helpers.py` (IPython: get_ipython().run_cell_magic('writefile', 'helpers.py', ...))."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run_cell_magic"
            and len(node.args) >= 2 and all(isinstance(a, ast.Constant) for a in node.args[:2])
            and node.args[0].value == "writefile"):
        target = str(node.args[1].value).split()[-1] if str(node.args[1].value).split() else ""
        if target.endswith(".py"):
            return {Path(target).stem}
    return set()


def _in_source(module: str, source: Source) -> bool:
    """A module of the repository itself: beside the notebook, at the root, or anywhere in the
    tree (`sys.path.append('../src')` then `import features`, as cookiecutter layouts do)."""
    if any((folder / f"{module}.py").is_file() or (folder / module).is_dir()
           for folder in (source.directory, source.root)):
        return True  # where Python itself finds it first
    # elsewhere only through sys.path, so a well-known name (a tutorial repository's pandas.py) stays the package's
    return module in repository_modules(source.root) and distribution(module) is None


@functools.lru_cache(maxsize=8)
def repository_modules(root: Path) -> frozenset[str]:
    """Names of the modules (x.py) and packages (x/__init__.py) anywhere in root, hidden folders,
    virtualenvs and installed packages left out."""
    found = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__")) and d not in _NOT_SOURCE
                   and not os.path.isfile(os.path.join(folder, d, "pyvenv.cfg"))]
        found.update(name[:-3] for name in files if name.endswith(".py"))
        if "__init__.py" in files:
            found.add(os.path.basename(folder))
    return frozenset(found)


_NOT_SOURCE = {"site-packages", "node_modules", "venv", "env", "build", "dist"}


def missing_module_hint(module: str) -> str:
    """For a cell's ModuleNotFoundError: which package to add, and where."""
    name = distribution(module)
    where = 'requirements = [...] in a cell, or requirements.txt beside the notebook'
    if module == "pkg_resources":
        return ("\n  'pkg_resources' came with setuptools until setuptools 82 removed it: the package that imports it "
                "was written before. Add 'setuptools<82' to the notebook's requirements, or build as of the notebook's "
                "time (NBS2I_AS_OF=notebook), whose setuptools has it.")
    if name:
        return f"\n  '{module}' is provided by the package {name}: add {name!r} to the notebook's requirements ({where})."
    return (f"\n  No requirement provides '{module}'. Add the package you installed for it in Jupyter to the notebook's "
            f"requirements ({where}).")
