#!/usr/bin/env python3
"""Conformance of `keyplan emulator` against the official Pinecone Python SDK.

Usage: python sdk_conformance.py path/to/keyplan

Starts `keyplan emulator --listen 127.0.0.1:0 --seed <tmp seed with a project "demo">`, reads
the address it prints, then:
  1. fetches each route's raw response with urllib and checks its status, headers and body
     against the shape this file states for it (SHAPES below: every field by name, no field
     missing, none extra, each of its JSON type and format: UUIDs, RFC 3339 timestamps, the six
     roles, the secret's pattern), and decodes every 2xx body into the official SDK's own
     response models (pinecone==10.2.0, msgspec structs: a missing required field or a wrong
     type raises there too);
  2. makes sure those shape checks can fail: every body seen is mutated (each field dropped, an
     unknown field added, each value replaced by a wrong one) and every mutant must be refused;
  3. drives the official SDK through token -> list projects -> describe_by_name -> create ->
     list -> update (rename and roles) -> delete -> describe (404), asserting the values it sees.

Exits non-zero on any failure; the last line is "N passed, M failed".
"""

from __future__ import annotations

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

import msgspec  # the SDK's own decoder (a dependency of pinecone==10.2.0)
from pinecone.models.admin.api_key import APIKeyModel, APIKeyWithSecret
from pinecone.models.admin.project import ProjectModel
from pinecone.models.admin.token import TokenResponse

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
# Response shapes, stated here
#
# Each shape checks a decoded JSON value and raises Failure naming the first place it differs.
# Objects are exact: every stated field must be present and no other field may appear. Each
# shape also knows values it must refuse (`mutants`), so the checks can be shown to fail.

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def kind(value) -> str:
    """The JSON type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Shape:
    json_type = ""
    # A value of another JSON type, for the mutants.
    wrong_type: object = None

    def check(self, value, where: str) -> None:
        check(kind(value) == self.json_type, f"{where}: {kind(value)}, expected {self.json_type}")
        self.check_value(value, where)

    def check_value(self, value, where: str) -> None:
        pass

    def bad_values(self) -> list:
        """Values of the right JSON type that must still be refused."""
        return []

    def mutants(self, value, where: str):
        """(description, wrong value) pairs derived from a value this shape accepts."""
        yield f"{where} null", None
        yield f"{where} of another type", self.wrong_type
        for bad in self.bad_values():
            yield f"{where} = {bad!r}", bad


class Str(Shape):
    json_type = "string"
    wrong_type = 1

    def __init__(self, min_len: int = 0, max_len: int | None = None, pattern: str | None = None):
        self.min_len = min_len
        self.max_len = max_len
        self.pattern = re.compile(pattern) if pattern else None

    def check_value(self, value, where):
        check(len(value) >= self.min_len, f"{where}: shorter than {self.min_len}: {value!r}")
        if self.max_len is not None:
            check(len(value) <= self.max_len, f"{where}: longer than {self.max_len}")
        if self.pattern:
            check(bool(self.pattern.match(value)), f"{where}: {value!r} does not match {self.pattern.pattern}")

    def bad_values(self):
        bad = []
        if self.min_len > 0:
            bad.append("")
        if self.max_len is not None:
            bad.append("x" * (self.max_len + 1))
        if self.pattern:
            bad.append("not-matching")
        return bad


class Const(Shape):
    def __init__(self, value: str):
        self.value = value
        self.json_type = kind(value)
        self.wrong_type = 1

    def check_value(self, value, where):
        check(value == self.value, f"{where}: {value!r}, expected {self.value!r}")

    def bad_values(self):
        return [self.value.lower() if self.value.lower() != self.value else self.value.upper()]


class OneOf(Shape):
    json_type = "string"
    wrong_type = 1

    def __init__(self, *values: str):
        self.values = values

    def check_value(self, value, where):
        check(value in self.values, f"{where}: {value!r} is not one of {sorted(self.values)}")

    def bad_values(self):
        return ["Admin"]


class Uuid(Shape):
    json_type = "string"
    wrong_type = 1

    def check_value(self, value, where):
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            raise Failure(f"{where}: {value!r} is not a UUID") from None
        check(str(parsed) == value.lower(), f"{where}: {value!r} is not a hyphenated UUID")

    def bad_values(self):
        return ["not-a-uuid", uuid.uuid4().hex]


class DateTime(Shape):
    json_type = "string"
    wrong_type = 1_761_003_627

    def check_value(self, value, where):
        check(bool(RFC3339.match(value)), f"{where}: {value!r} is not an RFC 3339 date-time")
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Failure(f"{where}: {value!r} is not a valid date-time") from None

    def bad_values(self):
        return ["2025-10-20 23:40:27", "2025-13-40T25:61:61Z", "yesterday"]


class Int(Shape):
    json_type = "integer"
    wrong_type = "1"

    def __init__(self, minimum: int | None = None):
        self.minimum = minimum

    def check_value(self, value, where):
        if self.minimum is not None:
            check(value >= self.minimum, f"{where}: {value} is below {self.minimum}")

    def bad_values(self):
        return [True, 1.5] + ([self.minimum - 1] if self.minimum is not None else [])


class Bool(Shape):
    json_type = "boolean"
    wrong_type = 0


class ListOf(Shape):
    json_type = "array"
    wrong_type = "[]"

    def __init__(self, item: Shape, min_len: int = 0):
        self.item = item
        self.min_len = min_len

    def check_value(self, value, where):
        check(len(value) >= self.min_len, f"{where}: fewer than {self.min_len} items")
        for i, item in enumerate(value):
            self.item.check(item, f"{where}[{i}]")

    def mutants(self, value, where):
        yield from super().mutants(value, where)
        if self.min_len > 0:
            yield f"{where} empty", []
        if value:
            for description, bad in self.item.mutants(value[0], f"{where}[0]"):
                yield description, [bad] + value[1:]


class Obj(Shape):
    json_type = "object"
    wrong_type = "{}"

    def __init__(self, title: str, fields: dict[str, Shape]):
        self.title = title
        self.fields = fields

    def check_value(self, value, where):
        missing = sorted(set(self.fields) - set(value))
        extra = sorted(set(value) - set(self.fields))
        check(not missing, f"{where}: {self.title} lacks {missing}")
        check(not extra, f"{where}: {self.title} has fields it should not have: {extra}")
        for field, shape in self.fields.items():
            shape.check(value[field], f"{where}.{field}")

    def mutants(self, value, where):
        yield from super().mutants(value, where)
        yield f"{where} with an unknown field", {**value, "unexpected": 1}
        for field, shape in self.fields.items():
            yield f"{where} without {field}", {k: v for k, v in value.items() if k != field}
            for description, bad in shape.mutants(value[field], f"{where}.{field}"):
                yield description, {**value, field: bad}


ROLE = OneOf(*sorted(ROLES))
PROJECT = Obj(
    "Project",
    {
        "id": Uuid(),
        "name": Str(min_len=1),
        "max_pods": Int(minimum=0),
        "force_encryption_with_cmek": Bool(),
        "organization_id": Str(min_len=1),
        "created_at": DateTime(),
    },
)
API_KEY = Obj(
    "APIKey",
    {
        "id": Uuid(),
        "name": Str(min_len=1, max_len=80),
        "project_id": Uuid(),
        "roles": ListOf(ROLE, min_len=1),
        "created_at": DateTime(),
    },
)
# `pcsk_` + 6 alphanumerics + `_` + 64 alphanumerics, like production's secrets.
SECRET = Str(pattern=r"^pcsk_[A-Za-z0-9]{6}_[A-Za-z0-9]{64}$")
TOKEN = Obj(
    "TokenResponse",
    {"access_token": Str(min_len=1), "expires_in": Int(minimum=1), "token_type": Const("Bearer")},
)
# RFC 6749 section 5.2's error codes, and access_denied, which Pinecone's token endpoint uses.
OAUTH_ERROR = Obj(
    "OAuthError",
    {
        "error": OneOf(
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "access_denied",
        ),
        "error_description": Str(),
    },
)
ADMIN_ERROR = Obj(
    "ErrorResponse",
    {
        "error": Obj(
            "ErrorResponse.error",
            {"code": Str(pattern=r"^[A-Z][A-Z_]*$"), "message": Str(min_len=1)},
        ),
        "status": Int(minimum=400),
    },
)


class _ProjectList(msgspec.Struct):
    data: list[ProjectModel]


class _APIKeyList(msgspec.Struct):
    data: list[APIKeyModel]


# (method, path template, status) -> (the body's shape, the SDK model it must decode into).
# A shape of None means an empty body. Error statuses not listed take ADMIN_ERROR (admin routes)
# or OAUTH_ERROR (the token route), and an admin error's `status` must repeat the HTTP status.
SHAPES = {
    ("POST", "/oauth/token", 200): (TOKEN, TokenResponse),
    ("GET", "/admin/projects", 200): (
        Obj("ListProjectsResponse", {"data": ListOf(PROJECT)}),
        _ProjectList,
    ),
    ("GET", "/admin/projects/{id}", 200): (PROJECT, ProjectModel),
    ("GET", "/admin/projects/{id}/api-keys", 200): (
        Obj("ListApiKeysResponse", {"data": ListOf(API_KEY)}),
        _APIKeyList,
    ),
    # 200, as production answers (Pinecone's published API says 201); see docs/emulator.md.
    ("POST", "/admin/projects/{id}/api-keys", 200): (
        Obj("APIKeyWithSecret", {"key": API_KEY, "value": SECRET}),
        APIKeyWithSecret,
    ),
    ("GET", "/admin/api-keys/{id}", 200): (API_KEY, APIKeyModel),
    ("PATCH", "/admin/api-keys/{id}", 200): (API_KEY, APIKeyModel),
    ("DELETE", "/admin/api-keys/{id}", 202): (None, None),
}
TEMPLATES = sorted({template for _, template, _ in SHAPES}, key=len, reverse=True)


def template_of(path: str) -> str | None:
    for template in TEMPLATES:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    return None


def shape_for(method: str, path: str, status: int):
    """The stated shape and SDK model for a response, or Failure when none is stated."""
    template = template_of(path)
    check(template is not None, f"{method} {path}: no shape is stated for this path")
    if status >= 400:
        return (OAUTH_ERROR if template == "/oauth/token" else ADMIN_ERROR), None
    stated = SHAPES.get((method, template, status))
    check(stated is not None, f"{method} {path} {status}: no shape is stated for this answer")
    return stated


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
    def __init__(self, base: str):
        self.base = base
        self.passed = 0
        self.failed = 0
        self.token: str | None = None
        # (where, shape, body) of every body a check accepted, for the mutation check.
        self.seen: list[tuple[str, Shape, object]] = []

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

    def validate(self, method: str, path: str, raw: Raw, expect_status: int):
        """Checks the status, the headers and the body against the shape stated for them, and
        decodes a 2xx body into the SDK's model for it. Returns the decoded body."""
        check(
            raw.status == expect_status,
            f"{method} {path}: expected HTTP {expect_status}, got {raw.status}: {raw.body[:300]!r}",
        )
        request_id = raw.headers.get("x-pinecone-request-id")
        check(bool(request_id), f"{method} {path}: no x-pinecone-request-id header")
        shape, model = shape_for(method, path, expect_status)
        if shape is None:
            check(raw.body == b"", f"{method} {path}: expected no body, got {raw.body[:100]!r}")
            return None
        content_type = raw.headers.get("content-type", "")
        check(
            content_type.startswith("application/json"),
            f"{method} {path}: content-type {content_type!r}",
        )
        doc = raw.json()
        where = f"{method} {path} {expect_status}: body"
        shape.check(doc, where)
        if shape is ADMIN_ERROR:
            check(doc["status"] == raw.status, f"{where}.status {doc['status']} is not {raw.status}")
        if model is not None:
            try:
                msgspec.json.decode(raw.body, type=model)
            except (msgspec.ValidationError, msgspec.DecodeError) as err:
                raise Failure(f"{where}: the SDK's {model.__name__} refuses it: {err}") from None
        self.seen.append((where, shape, doc))
        return doc

    def admin(self, method: str, path: str, body=None, expect: int = 200, token: str | None = ""):
        raw = http(method, self.base + path, body, self.token if token == "" else token)
        return self.validate(method, path, raw, expect)


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
    """Each route's raw responses against the shapes stated above."""
    state: dict = {}

    def token_json():
        raw = http("POST", c.base + "/oauth/token", token_request())
        doc = c.validate("POST", "/oauth/token", raw, 200)
        check(doc["token_type"] == "Bearer", f"token_type {doc['token_type']!r}")
        check(doc["expires_in"] > 0, "expires_in must be positive")
        c.token = doc["access_token"]

    def token_form():
        raw = http("POST", c.base + "/oauth/token", token_request(), form=True)
        c.validate("POST", "/oauth/token", raw, 200)

    def token_refused():
        raw = http("POST", c.base + "/oauth/token", token_request(client_secret="wrong"))
        doc = c.validate("POST", "/oauth/token", raw, 401)
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

    c.run("raw: token (JSON body) has the TokenResponse shape", token_json)
    c.run("raw: token (form body) has the TokenResponse shape", token_form)
    c.run("raw: wrong client secret gives the OAuth error shape", token_refused)
    c.run("raw: no bearer token gives 401 UNAUTHENTICATED", unauthenticated)
    c.run("raw: projects list, describe and 404 have the stated shapes", projects)
    c.run("raw: key create, list, describe, patch, delete have the stated shapes", keys)


def mutation_checks(c: Conformance) -> None:
    """The shape checks can fail: each body the raw checks accepted, made wrong in every way its
    shape names (a field missing, an unknown field, null, another JSON type, a bad format or
    value), must be refused."""

    def refuse_mutants():
        check(bool(c.seen), "no body was checked, so no mutant either")
        count = 0
        for where, shape, doc in c.seen:
            for description, mutant in shape.mutants(doc, "body"):
                count += 1
                try:
                    shape.check(mutant, "mutant")
                except Failure:
                    continue
                raise Failure(f"{where}: the shape check accepts {description}")
        print(f"     ({count} mutants of {len(c.seen)} bodies, all refused)")

    c.run("shapes: a body with a missing, unknown or wrong field is refused", refuse_mutants)


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
    with tempfile.TemporaryDirectory() as tmp:
        seed_path = Path(tmp) / "seed.json"
        seed = {"projects": [{"name": "demo", "keys": [{"name": "seeded"}]}, {"name": "other"}]}
        seed_path.write_text(json.dumps(seed))
        process, base = start_emulator(binary, seed_path)
        try:
            c = Conformance(base)
            print(f"emulator at {base}")
            raw_checks(c)
            mutation_checks(c)
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
