#!/usr/bin/env python3
"""Conformance of `keyplan emulator` against the official Pinecone Python SDK and OpenAPI spec.

Usage: python sdk_conformance.py path/to/keyplan

Starts `keyplan emulator --listen 127.0.0.1:0 --seed <tmp seed with a project "demo">`, reads
the address it prints, then:
  1. drives the official SDK (pinecone==10.2.0) through token -> list projects ->
     describe_by_name -> create -> list -> update (rename and roles) -> delete -> describe (404),
     asserting the values it sees;
  2. fetches each raw response with urllib and validates its shape against the response schema
     the OpenAPI spec (admin_2025-10.oas.yaml, oauth_2025-10.oas.yaml) gives for that path,
     method and status ($ref resolved, OpenAPI 3.0 `nullable` honoured, `x-enum` enforced).

The spec directory is $KEYPLAN_OPENAPI_DIR when set; otherwise <repo>/../shared/reference/openapi,
then shared/reference/openapi under every ancestor directory of this script (a worktree may sit
deeper than the repository).
Exits non-zero on any failure; the last line is "N passed, M failed".
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import jsonschema
import yaml

CLIENT_ID = "conformance-client"
CLIENT_SECRET = "conformance-secret"
AUDIENCE = "https://api.pinecone.io/"
API_VERSION = "2025-10"
ROLES = {
    "ProjectEditor",
    "ProjectViewer",
    "ControlPlaneEditor",
    "ControlPlaneViewer",
    "DataPlaneEditor",
    "DataPlaneViewer",
}


class Failure(Exception):
    """A conformance check that did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


# ---------------------------------------------------------------------------------------------
# The OpenAPI spec as JSON Schema


def find_spec_dir() -> Path:
    override = os.environ.get("KEYPLAN_OPENAPI_DIR")
    here = Path(__file__).resolve().parent
    repo = here.parent.parent
    if override:
        candidates = [Path(override)]
    else:
        candidates = [repo.parent / "shared" / "reference" / "openapi"]
        candidates += [d / "shared" / "reference" / "openapi" for d in here.parents]
    for candidate in candidates:
        if (candidate / "admin_2025-10.oas.yaml").is_file():
            return candidate
    tried = "\n  ".join(str(c) for c in candidates)
    sys.exit(
        "error: cannot find the OpenAPI specs (admin_2025-10.oas.yaml); looked in:\n  "
        f"{tried}\nhint: set KEYPLAN_OPENAPI_DIR to the directory holding them"
    )


def to_json_schema(node, components: dict, seen: tuple = ()):
    """Inlines $refs and turns OpenAPI 3.0 schema dialect into JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            raise ValueError(f"recursive schema {name}")
        return to_json_schema(components[name], components, seen + (name,))
    out = {}
    for key, value in node.items():
        if key in ("example", "examples", "description", "nullable", "x-enum"):
            continue
        if key == "properties":
            out[key] = {k: to_json_schema(v, components, seen) for k, v in value.items()}
        else:
            out[key] = to_json_schema(value, components, seen)
    if "x-enum" in node:
        out["enum"] = list(node["x-enum"]) + ([None] if node.get("nullable") else [])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class Spec:
    """Response schemas by (path template, method, status)."""

    def __init__(self, path: Path):
        doc = yaml.safe_load(path.read_text())
        self.doc = doc
        self.components = doc.get("components", {}).get("schemas", {})
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$"), t) for t in doc["paths"]
        ]

    def template(self, path: str) -> str | None:
        for pattern, template in self.templates:
            if pattern.match(path):
                return template
        return None

    def response(self, path: str, method: str, status: int):
        """The spec's response object for this request, or None if the spec has none."""
        template = self.template(path)
        if template is None:
            return None
        operation = self.doc["paths"][template].get(method.lower())
        if operation is None:
            return None
        responses = operation["responses"]
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return responses[key]
        return None

    def schema(self, response) -> dict | None:
        content = (response or {}).get("content", {})
        media = content.get("application/json")
        if media is None:
            return None
        return to_json_schema(copy.deepcopy(media["schema"]), self.components)


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value) -> bool:
    if not isinstance(value, str):
        return True
    return str(uuid.UUID(value)) == value.lower()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    check_rfc3339 = re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", value)
    if not check_rfc3339:
        raise ValueError(f"{value!r} is not RFC 3339")
    datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


# ---------------------------------------------------------------------------------------------
# Raw HTTP


class Raw:
    """One raw exchange: status, headers, body."""

    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as err:
            raise Failure(f"HTTP {self.status} body is not JSON ({err}): {self.body[:200]!r}")


def http(method: str, url: str, body=None, token: str | None = None, form: bool = False) -> Raw:
    headers = {"X-Pinecone-Api-Version": API_VERSION}
    data = None
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Raw(response.status, response.headers, response.read())
    except urllib.error.HTTPError as err:
        return Raw(err.code, err.headers, err.read())


class Conformance:
    def __init__(self, base: str, admin_spec: Spec, oauth_spec: Spec):
        self.base = base
        self.admin_spec = admin_spec
        self.oauth_spec = oauth_spec
        self.passed = 0
        self.failed = 0
        self.token: str | None = None

    def run(self, name: str, func) -> None:
        try:
            func()
        except Exception as err:  # noqa: BLE001 - every failure is reported, then counted
            self.failed += 1
            print(f"FAIL {name}: {err}")
            if not isinstance(err, Failure):
                traceback.print_exc()
        else:
            self.passed += 1
            print(f"ok   {name}")

    def validate(self, spec: Spec, method: str, path: str, raw: Raw, expect_status: int):
        """Checks the status and the body's shape against the spec's schema for it."""
        check(
            raw.status == expect_status,
            f"{method} {path}: expected HTTP {expect_status}, got {raw.status}: {raw.body[:300]!r}",
        )
        request_id = raw.headers.get("x-pinecone-request-id")
        check(bool(request_id), f"{method} {path}: no x-pinecone-request-id header")
        status_for_spec = expect_status
        if method == "POST" and path.endswith("/api-keys") and expect_status == 200:
            # The spec says 201; production (and the emulator) answer 200 with the same body.
            status_for_spec = 201
        response = spec.response(path, method, status_for_spec)
        check(response is not None, f"{method} {path} {expect_status}: not in the spec")
        schema = spec.schema(response)
        if schema is None:
            check(raw.body == b"", f"{method} {path}: spec has no body, got {raw.body[:100]!r}")
            return None
        content_type = raw.headers.get("content-type", "")
        check(
            content_type.startswith("application/json"),
            f"{method} {path}: content-type {content_type!r}",
        )
        doc = raw.json()
        try:
            jsonschema.validate(doc, schema, format_checker=FORMATS)
        except jsonschema.ValidationError as err:
            raise Failure(f"{method} {path}: response does not match the spec: {err.message}")
        return doc

    def admin(self, method: str, path: str, body=None, expect: int = 200, token: str | None = ""):
        raw = http(method, self.base + path, body, self.token if token == "" else token)
        return self.validate(self.admin_spec, method, path, raw, expect)


def token_request(form: bool = False, **overrides) -> dict:
    body = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "client_credentials",
        "audience": AUDIENCE,
    }
    body.update(overrides)
    return body


# ---------------------------------------------------------------------------------------------
# The checks


def raw_checks(c: Conformance) -> None:
    """Each route's raw responses against the spec."""
    state: dict = {}

    def token_json():
        raw = http("POST", c.base + "/oauth/token", token_request())
        doc = c.validate(c.oauth_spec, "POST", "/oauth/token", raw, 200)
        check(doc["token_type"] == "Bearer", f"token_type {doc['token_type']!r}")
        check(doc["expires_in"] > 0, "expires_in must be positive")
        c.token = doc["access_token"]

    def token_form():
        raw = http("POST", c.base + "/oauth/token", token_request(), form=True)
        c.validate(c.oauth_spec, "POST", "/oauth/token", raw, 200)

    def token_refused():
        raw = http("POST", c.base + "/oauth/token", token_request(client_secret="wrong"))
        doc = c.validate(c.oauth_spec, "POST", "/oauth/token", raw, 401)
        check(doc.get("error") == "access_denied", f"OAuth error {doc!r}")
        check(isinstance(doc.get("error_description"), str), "error_description missing")

    def unauthenticated():
        doc = c.admin("GET", "/admin/projects", expect=401, token=None)
        check(doc["error"]["code"] == "UNAUTHENTICATED", f"code {doc['error']['code']}")
        check(doc["status"] == 401, "status field must repeat the HTTP status")

    def projects():
        doc = c.admin("GET", "/admin/projects")
        demo = [p for p in doc["data"] if p["name"] == "demo"]
        check(len(demo) == 1, f"one project 'demo' expected, got {doc['data']!r}")
        state["project"] = demo[0]
        one = c.admin("GET", f"/admin/projects/{demo[0]['id']}")
        check(one == demo[0], "describe differs from list")
        c.admin("GET", f"/admin/projects/{uuid.uuid4()}", expect=404)

    def keys():
        pid = state["project"]["id"]
        created = c.admin(
            "POST", f"/admin/projects/{pid}/api-keys", {"name": "raw", "roles": ["DataPlaneViewer"]}
        )
        check(created["value"].startswith("pcsk_"), "secret must start with pcsk_")
        key = created["key"]
        listed = c.admin("GET", f"/admin/projects/{pid}/api-keys")
        check(key["id"] in [k["id"] for k in listed["data"]], "created key not listed")
        check(all("value" not in k for k in listed["data"]), "a listing carries a secret")
        check(c.admin("GET", f"/admin/api-keys/{key['id']}") == key, "describe differs from create")
        patched = c.admin("PATCH", f"/admin/api-keys/{key['id']}", {"roles": ["ProjectViewer"]})
        check(patched["name"] == "raw" and patched["roles"] == ["ProjectViewer"], f"{patched!r}")
        bad = c.admin("POST", f"/admin/projects/{pid}/api-keys", {"name": ""}, expect=400)
        check(bad["error"]["code"] == "INVALID_ARGUMENT", f"{bad!r}")
        c.admin("DELETE", f"/admin/api-keys/{key['id']}", expect=202)
        gone = c.admin("GET", f"/admin/api-keys/{key['id']}", expect=404)
        check("not found" in gone["error"]["message"], f"404 message {gone!r}")
        c.admin("DELETE", f"/admin/api-keys/{key['id']}", expect=404)

    c.run("raw: token (JSON body) matches TokenResponse", token_json)
    c.run("raw: token (form body) matches TokenResponse", token_form)
    c.run("raw: wrong client secret gives the OAuth error shape", token_refused)
    c.run("raw: no bearer token gives 401 UNAUTHENTICATED", unauthenticated)
    c.run("raw: projects list, describe and 404 match the spec", projects)
    c.run("raw: key create, list, describe, patch, delete match the spec", keys)


def sdk_checks(c: Conformance) -> None:
    """The official SDK's own view of the emulator."""
    from pinecone import Admin
    from pinecone.errors.exceptions import NotFoundError, UnauthorizedError

    state: dict = {}

    def connect():
        state["admin"] = Admin(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            host=c.base,
            oauth_url=f"{c.base}/oauth/token",
        )

    def refused_credentials():
        try:
            Admin(
                client_id=CLIENT_ID,
                client_secret="wrong",
                host=c.base,
                oauth_url=f"{c.base}/oauth/token",
            )
        except UnauthorizedError:
            return
        except Exception as err:  # noqa: BLE001 - any refusal will do, but say which
            check("401" in str(err) or "nauthori" in str(err), f"unexpected error {err!r}")
            return
        raise Failure("the SDK accepted a wrong client secret")

    def list_projects():
        names = [p.name for p in state["admin"].projects.list()]
        check("demo" in names, f"projects {names!r}")

    def describe_by_name():
        project = state["admin"].projects.describe_by_name(name="demo")
        check(project.name == "demo", f"name {project.name!r}")
        uuid.UUID(project.id)
        state["project"] = project

    def create():
        created = state["admin"].api_keys.create(
            project_id=state["project"].id, name="ci", roles=["DataPlaneViewer"]
        )
        check(created.value.startswith("pcsk_") and len(created.value) >= 70, "secret shape")
        check(created.key.name == "ci", f"name {created.key.name!r}")
        check(created.key.project_id == state["project"].id, "project_id")
        check([str(getattr(r, "value", r)) for r in created.key.roles] == ["DataPlaneViewer"],
              f"roles {created.key.roles!r}")
        state["key"] = created.key

    def list_keys():
        keys = list(state["admin"].api_keys.list(project_id=state["project"].id))
        by_id = {k.id: k for k in keys}
        check(state["key"].id in by_id, "created key missing from list")
        check(by_id[state["key"].id].name == "ci", "listed name")
        check(any(k.name == "seeded" for k in keys), f"seeded key missing: {keys!r}")

    def update():
        updated = state["admin"].api_keys.update(
            api_key_id=state["key"].id, name="ci-2", roles=["ProjectViewer"]
        )
        check(updated.name == "ci-2", f"name {updated.name!r}")
        check([str(getattr(r, "value", r)) for r in updated.roles] == ["ProjectViewer"],
              f"roles {updated.roles!r}")
        described = state["admin"].api_keys.describe(api_key_id=state["key"].id)
        check(described.name == "ci-2", "describe after update")

    def delete():
        state["admin"].api_keys.delete(api_key_id=state["key"].id)
        remaining = [k.id for k in state["admin"].api_keys.list(project_id=state["project"].id)]
        check(state["key"].id not in remaining, "deleted key still listed")

    def describe_404():
        try:
            state["admin"].api_keys.describe(api_key_id=state["key"].id)
        except NotFoundError as err:
            check("not found" in str(err).lower(), f"404 message {err}")
            return
        raise Failure("describe of a deleted key did not raise NotFoundError")

    steps = [
        ("sdk: Admin() fetches a token", connect),
        ("sdk: wrong credentials are refused", refused_credentials),
        ("sdk: projects.list", list_projects),
        ("sdk: projects.describe_by_name", describe_by_name),
        ("sdk: api_keys.create", create),
        ("sdk: api_keys.list", list_keys),
        ("sdk: api_keys.update (rename and roles)", update),
        ("sdk: api_keys.delete", delete),
        ("sdk: api_keys.describe after delete raises NotFoundError", describe_404),
    ]
    for name, step in steps:
        before = c.failed
        c.run(name, step)
        if c.failed > before and name in ("sdk: Admin() fetches a token", "sdk: api_keys.create"):
            print("     (later SDK steps depend on this one; stopping the SDK run)")
            c.failed += 1
            return


def start_emulator(binary: str, seed_path: Path):
    process = subprocess.Popen(
        [
            binary,
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            str(seed_path),
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    match = re.match(r"^keyplan emulator listening on (http://\S+)\s*$", line)
    if not match:
        process.kill()
        _, err = process.communicate(timeout=5)
        sys.exit(f"error: the emulator did not announce its address (got {line!r}); stderr:\n{err}")
    return process, match.group(1)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 64
    binary = sys.argv[1]
    if not os.access(binary, os.X_OK):
        sys.exit(f"error: {binary} is not an executable keyplan binary")
    spec_dir = find_spec_dir()
    admin_spec = Spec(spec_dir / "admin_2025-10.oas.yaml")
    oauth_spec = Spec(spec_dir / "oauth_2025-10.oas.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        seed_path = Path(tmp) / "seed.json"
        seed = {"projects": [{"name": "demo", "keys": [{"name": "seeded"}]}, {"name": "other"}]}
        seed_path.write_text(json.dumps(seed))
        process, base = start_emulator(binary, seed_path)
        try:
            c = Conformance(base, admin_spec, oauth_spec)
            print(f"emulator at {base}; spec from {spec_dir}")
            raw_checks(c)
            sdk_checks(c)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                c.failed += 1
                print("FAIL the emulator did not stop on SIGTERM within 10 s")
        if process.returncode not in (0, -15):
            c.failed += 1
            print(f"FAIL the emulator exited with {process.returncode} on SIGTERM")
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 and c.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
