"""Check requests and answers against the official Sonarr/Radarr OpenAPI documents.

Stricter than the documents themselves, in the ways the real servers are: a field the schema
does not declare is refused (``additionalProperties: false``), and ``null`` is refused everywhere
(the real servers leave null fields out). Status codes are not checked here: the documents
declare 200 everywhere, the real codes are in ENDPOINTS.md and in the fakes' own tests.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012 as _SPEC

CONTRACTS = Path(__file__).resolve().parents[2].parent / "shared" / "contracts"
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def _strict(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema 2020-12, with nulls and unknown fields refused."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k not in ("nullable", "example")}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    if out.get("type") == "integer" and node.get("format") in INT_RANGES:
        out["minimum"], out["maximum"] = INT_RANGES[node["format"]]
    return out


class OpenApiContract:
    """One OpenAPI document, ready to validate concrete requests and answers."""

    def __init__(self, filename: str) -> None:
        self.path = CONTRACTS / filename
        self.doc = json.loads(self.path.read_text())
        self.uri = f"urn:contract:{filename}"
        strict = _strict(copy.deepcopy(self.doc))
        self.registry = Registry().with_resource(
            self.uri, Resource.from_contents(strict, default_specification=_SPEC)
        )

    @cached_property
    def _templates(self) -> list[tuple[re.Pattern, str]]:
        found = []
        for template in self.doc["paths"]:
            pattern = re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template))
            found.append((re.compile(f"^{pattern}/?$", re.IGNORECASE), template))
        # literal segments beat parameters: /api/v3/series/editor before /api/v3/series/{id}
        found.sort(key=lambda item: item[1].count("{"))
        return found

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        """The path template and operation object for a concrete request; AssertionError if none."""
        for pattern, template in self._templates:
            if pattern.match(path):
                ops = self.doc["paths"][template]
                if method.lower() in ops:
                    return template, ops[method.lower()]
        raise AssertionError(f"{method} {path} is not an operation of {self.path.name}")

    def _validator(self, pointer: str) -> Draft202012Validator:
        schema = {"$ref": f"{self.uri}#{pointer}"}
        return Draft202012Validator(schema, registry=self.registry, format_checker=FormatChecker())

    def validate_response(self, method: str, path: str, body: Any) -> None:
        """``body`` must match the declared 200 schema of the operation."""
        template, op = self.operation(method, path)
        content = op["responses"].get("200", {}).get("content")
        if not content:
            assert body in (None, {}, ""), f"{method} {template} declares no body, got {body!r}"
            return
        pointer = _pointer("paths", template, method.lower(), "responses", "200", "content")
        media = "application/json" if "application/json" in content else next(iter(content))
        _raise_first(self._validator(f"{pointer}/{_esc(media)}/schema"), body, method, template)
        assert_no_nulls(body)

    def validate_request(
        self, method: str, path: str, query: dict[str, list[str]], body: Any = None
    ) -> None:
        """The path, method and every query parameter must exist; a body must match."""
        template, op = self.operation(method, path)
        declared = {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "query"}
        unknown = {k for k in query if k.lower() not in declared | {"apikey"}}
        assert not unknown, f"{method} {template}: undeclared query parameters {sorted(unknown)}"
        if body is not None:
            content = op.get("requestBody", {}).get("content", {})
            assert content, f"{method} {template} takes no request body"
            pointer = _pointer("paths", template, method.lower(), "requestBody", "content")
            media = "application/json" if "application/json" in content else next(iter(content))
            _raise_first(self._validator(f"{pointer}/{_esc(media)}/schema"), body, method, template)


def assert_no_nulls(value: Any, where: str = "$") -> None:
    """Sonarr and Radarr leave null fields out; a fake must never send ``null``."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert item is not None, f"{where}.{key} is null (the real server omits it)"
            assert_no_nulls(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_no_nulls(item, f"{where}[{i}]")


def _raise_first(validator: Draft202012Validator, body: Any, method: str, template: str) -> None:
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "$"
        raise AssertionError(f"{method} {template}: {where}: {first.message}")


def _esc(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _pointer(*parts: str) -> str:
    return "/" + "/".join(_esc(p) for p in parts)
