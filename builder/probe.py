# nbs2i probe: `BUILD_ENV/bin/python probe.py MODEL_DIR < {"example": ...}` prints, as JSON, what serving the
# artifact needs, seen from a fresh process of the build environment (builder/serving.py
# reads it). Like runner.py it runs next to the user's model, so it imports only the
# standard library and the service package. Three sources of module names:
#   - the modules the pickle stream names (pickletools: GLOBAL/STACK_GLOBAL and every
#     string that names an importable module, such as cloudpickle's subimport arguments);
#   - the modules the pickled functions import in their bodies (their code objects, nested
#     ones included: `import pandas` inside predictor);
#   - what loading the artifact and answering `example` actually imports.
# It also lists every distribution of the environment with its version, requirements and
# top-level modules, and the values of PEP 508 environment markers for this interpreter.
import dis
import importlib.metadata
import json
import os
import pickletools
import platform
import sys
import types


def pickle_modules(data):
    """Module names in the pickle stream (a string that looks like a dotted name is a candidate)."""
    names = set()
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name == "GLOBAL":
            names.add(arg.split(" ")[0])
        elif isinstance(arg, str) and arg.replace(".", "").replace("_", "").isalnum() and not arg[:1].isdigit():
            names.add(arg)
    return names


def code_imports(objects):
    """Modules imported inside the functions' bodies (IMPORT_NAME in every nested code object)."""
    found, seen = set(), set()

    def visit(code):
        if id(code) in seen:
            return
        seen.add(id(code))
        for instruction in dis.get_instructions(code):
            if instruction.opname == "IMPORT_NAME" and not (instruction.argval or "").startswith("."):
                found.add(instruction.argval)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                visit(const)

    def walk(obj, depth=0):
        if depth > 3:
            return
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType):
            visit(code)
        for value in list(getattr(obj, "__dict__", {}).values()) if isinstance(obj, type) else []:
            walk(value, depth + 1)
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                walk(cell.cell_contents, depth + 1)
            except ValueError:  # an empty cell
                pass
        for value in (getattr(obj, "__globals__", None) or {}).values():
            if isinstance(value, (types.FunctionType, type)) and value.__module__ == obj.__module__:
                walk(value, depth + 1)

    for obj in objects.values():
        walk(obj)
    return found


def marker_environment():
    """PEP 508's marker variables for this interpreter."""
    info = sys.implementation.version
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return {"implementation_name": sys.implementation.name, "implementation_version": version,
            "os_name": os.name, "platform_machine": platform.machine(), "platform_release": platform.release(),
            "platform_system": platform.system(), "platform_version": platform.version(),
            "python_full_version": platform.python_version(),
            "platform_python_implementation": platform.python_implementation(),
            "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform}


def distributions():
    top_level = importlib.metadata.packages_distributions()
    provides = {}
    for module, names in top_level.items():
        for name in names:
            provides.setdefault(name.lower(), []).append(module)
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name in found:  # the first on sys.path is the installed one, as distribution(name) says: an
            continue       # editable project's own egg-info in the source tree comes later, without direct_url
        direct = dist.read_text("direct_url.json")  # installed from a path, URL or VCS (PEP 610)
        found[name] = {"version": dist.version, "requires": dist.requires or [],
                       "modules": sorted(set(provides.get(name.lower(), []))),
                       "direct_url": json.loads(direct) if direct else None}
    return found


def main(model_dir):
    report_to, sys.stdout = sys.stdout, sys.stderr  # what the model prints must not mix with the report
    from nbs2i_service import artifact, contract

    with open(os.path.join(model_dir, contract.ARTIFACT_FILE), "rb") as handle:
        data = handle.read()
    metadata = json.load(sys.stdin)  # {"example": ...} when the notebook gave one
    before = set(sys.modules)
    objects = artifact.loads(data)  # the build made these bytes in this build, moments ago
    loaded = set(sys.modules) - before
    ran, error = set(), None
    if contract.META_EXAMPLE in metadata:
        before = set(sys.modules)
        try:
            sample = metadata[contract.META_EXAMPLE]
            if contract.VALIDATOR in objects:
                objects[contract.VALIDATOR](sample)
            objects[contract.PREDICTOR](sample)
        except Exception as exc:  # the smoke test reports it; the probe only watches imports
            error = f"{type(exc).__name__}: {exc}"
        ran = set(sys.modules) - before
    report = {"pickle": sorted(pickle_modules(data)), "code": sorted(code_imports(objects)),
              "loaded": sorted(loaded | ran), "example_error": error,
              "distributions": distributions(), "markers": marker_environment()}
    json.dump(report, report_to)


if __name__ == "__main__":
    main(sys.argv[1])
