"""`oc process` for the tests: OpenShift Template parameters substituted offline.

${NAME} is replaced inside strings; a string that is exactly ${{NAME}} becomes the
parameter's JSON value (numbers stay numbers). `generate: expression` parameters get a
value matching their [chars]{n} expression.
"""
from __future__ import annotations

import json
import random
import re
import string
from typing import Any

_REF = re.compile(r"\$\{(\w+)\}")
_JSON_REF = re.compile(r"^\$\{\{(\w+)\}\}$")
_EXPR = re.compile(r"^\[a-zA-Z0-9\]\{(\d+)\}$")


def parameters(template: dict, given: dict[str, str]) -> dict[str, str]:
    values = {}
    for param in template.get("parameters", []):
        name = param["name"]
        if name in given:
            values[name] = given[name]
        elif param.get("generate") == "expression":
            match = _EXPR.match(param["from"])
            assert match, f"unsupported expression {param['from']!r}"
            values[name] = "".join(random.choices(string.ascii_letters + string.digits, k=int(match.group(1))))
        elif "value" in param:
            values[name] = param["value"]
        elif param.get("required"):
            raise ValueError(f"template parameter {name} is required")
        else:
            values[name] = ""
    unknown = set(given) - values.keys()
    if unknown:
        raise ValueError(f"unknown template parameters: {sorted(unknown)}")
    return values


def _substitute(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {_substitute(k, values): _substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, values) for v in node]
    if isinstance(node, str):
        whole = _JSON_REF.match(node)
        if whole:
            return json.loads(values[whole.group(1)])
        return _REF.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), node)
    return node


def process(template: dict, given: dict[str, str]) -> list[dict]:
    """The template's objects with parameters filled in, as `oc process` outputs them."""
    return _substitute(template["objects"], parameters(template, given))
