"""Run by bench/mutation.py in the stage (where mutmut finds its mutants): for each surviving
mutant named in argv[1] (JSON), the line of its source file it changes and the change, from
mutmut's own diff of the function. Prints {name: {"line", "was", "now"}} as JSON."""
import ast
import json
import re
import sys
from pathlib import Path

from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant


def locate(name: str) -> dict:
    mutated = Path(find_mutant(name).path)  # mutants/src/nbs2i_service/MODULE.py
    source = Path(*mutated.parts[1:]).read_text()  # src/nbs2i_service/MODULE.py
    diff = get_diff_for_mutant(name, path=mutated).splitlines()
    function = re.sub(r"__mutmut_\d+$", "", name.rsplit(".", 1)[-1]).split("ǁ")[-1]
    function = function[2:] if function.startswith("x_") else function
    starts = [n.lineno for n in ast.walk(ast.parse(source))
              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function]
    hunk = next(i for i, line in enumerate(diff) if line.startswith("@@"))
    first = int(re.match(r"@@ -(\d+)", diff[hunk]).group(1))
    body = diff[hunk + 1:]
    offset = sum(1 for line in body[:next(i for i, line in enumerate(body) if line.startswith("-"))]
                 if not line.startswith("+"))
    was = next(line[1:].strip() for line in body if line.startswith("-"))
    now = next((line[1:].strip() for line in body if line.startswith("+")), "")
    return {"line": (starts[0] if starts else 1) + first - 1 + offset, "was": was, "now": now}


found = {}
for name in json.loads(sys.argv[1]):
    try:
        found[name] = locate(name)
    except Exception as exc:  # a mutant mutmut cannot show: listed without its line
        found[name] = {"line": None, "was": "", "now": f"(not located: {type(exc).__name__})"}
print(json.dumps(found))
