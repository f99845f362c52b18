"""The federation policy: which records each agency sees, and which sensitive fields.

A policy is a TOML file (``borderlink/hub/policies/example-policy.toml`` is the shipped example,
:data:`EXAMPLE_POLICY`)::

    version = 1

    [agency.SCC]
    description = "State Customs Committee"

    [[agency.SCC.grant]]
    types = ["radiation.occupancy", "radiation.alarm", "lab.analysis"]
    disclose = "all"                      # or a list of sensitive field names, or []

    [[agency.SCC.grant]]
    types = ["document.check"]
    when = [{ field = "reasons", contains_any = ["customs_referral"] }]
    disclose = ["surname", "given_names", "document_number", "birth_date"]

Everything not granted is denied: an agency without a table sees nothing, a record type
without a grant never reaches it, a sensitive field not in ``disclose`` is withheld (the
record still verifies: its digest is signed, the disclosure is simply not sent).

A grant may narrow itself with ``sites`` (record site ids), ``owners`` (the agency that owns
the record, e.g. node events of the agency's own nodes) and ``when``: conditions that must
all hold, each on a *clear* body field of every type in the grant (a dotted path reaches into
a map field, e.g. ``watchlist.category``). Operators: ``equals`` (a scalar), ``in`` (a list of
scalars), ``contains_any`` (a list field holding any of the values), ``present`` (true or
false). Conditions never read sensitive fields: whether a record reaches an agency must not
depend on a value that agency may not see. A record matching several grants gets the
union of their disclosures.

Parsing is pure (:func:`parse_policy` over text); :func:`load_policy` reads a file. Every
problem raises a :class:`~borderlink.hub.errors.PolicyError` naming the file, the key and
what was expected; unknown agencies, record types, fields and keys are named.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from borderlink.hub.errors import PolicySyntaxError, PolicyValidationError
from borderlink.proto.identity import AGENCIES
from borderlink.proto.record_types import RecordType, RecordTypeRegistry, default_registry

#: The example policy shipped inside the package (the demo loads it; so can a new hub).
EXAMPLE_POLICY = Path(str(files("borderlink.hub.policies") / "example-policy.toml"))

POLICY_VERSION = 1
OPERATORS = ("equals", "in", "contains_any", "present")
_GRANT_KEYS = frozenset({"types", "disclose", "sites", "owners", "when", "note"})
_AGENCY_KEYS = frozenset({"description", "grant"})
_TOP_KEYS = frozenset({"version", "agency", "description"})
_MISSING = object()


@dataclass(frozen=True)
class Condition:
    """``path`` (into the clear body) compared by ``op`` with ``value``."""

    path: tuple[str, ...]
    op: str
    value: Any

    def matches(self, body: Mapping[str, Any]) -> bool:
        current: Any = body
        for part in self.path:
            if not isinstance(current, Mapping) or part not in current:
                current = _MISSING
                break
            current = current[part]
        op = self.op
        if op == "present":
            return (current is not _MISSING) is self.value
        if current is _MISSING:
            return False
        if op == "equals":
            return bool(_same(current, self.value))
        if op == "in":
            return any(_same(current, v) for v in self.value)
        # contains_any
        if not isinstance(current, (list, tuple)):
            return False
        return any(_same(item, v) for item in current for v in self.value)

    def describe(self) -> str:
        return f"{'.'.join(self.path)} {self.op} {self.value!r}"


def _same(a: Any, b: Any) -> bool:
    # bool is not an int here (True must not equal 1), as in the record body rules.
    return (
        type(a) is type(b)
        and a == b
        or (type(a) in (int, float) and type(b) in (int, float) and a == b)
    )


@dataclass(frozen=True)
class TypeGrant:
    """One grant as it applies to one record type: its narrowing and what it discloses."""

    disclose: frozenset[str]
    sites: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    when: tuple[Condition, ...] = ()

    def applies(self, site: str, owner: str, body: Mapping[str, Any] | None) -> bool:
        if self.sites and site not in self.sites:
            return False
        if self.owners and owner not in self.owners:
            return False
        if self.when:
            if body is None:
                return False
            return all(c.matches(body) for c in self.when)
        return True


@dataclass(frozen=True)
class TypeAccess:
    """Everything an agency may see of one record type."""

    record_type: str
    grants: tuple[TypeGrant, ...]
    #: True when some grant has ``when`` conditions (deciding needs the decoded body).
    needs_body: bool = field(init=False)
    #: When no grant narrows anything: the disclosed fields, decided without the record.
    unconditional: frozenset[str] | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "needs_body", any(g.when for g in self.grants))
        plain = [g for g in self.grants if not (g.sites or g.owners or g.when)]
        if len(plain) == len(self.grants):
            union: frozenset[str] = frozenset().union(*(g.disclose for g in plain))
            object.__setattr__(self, "unconditional", union)
        else:
            object.__setattr__(self, "unconditional", None)

    def decide(
        self, site: str, owner: str, body: Mapping[str, Any] | None = None
    ) -> frozenset[str] | None:
        """The fields disclosed for a record, or None when the agency may not see it."""
        if self.unconditional is not None:
            return self.unconditional
        fields: set[str] = set()
        visible = False
        for grant in self.grants:
            if grant.applies(site, owner, body):
                visible = True
                fields |= grant.disclose
        return frozenset(fields) if visible else None


@dataclass(frozen=True)
class AgencyPolicy:
    """What one agency may see: record types and, per type, the grants."""

    agency: str
    types: Mapping[str, TypeAccess]
    description: str = ""

    def access(self, record_type: str) -> TypeAccess | None:
        return self.types.get(record_type)

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.types))


@dataclass(frozen=True)
class Policy:
    """A validated policy: per agency its :class:`AgencyPolicy`; absent agencies see nothing."""

    agencies: Mapping[str, AgencyPolicy]
    source: str = "<policy>"
    #: SHA-256 (hex) of the TOML bytes it was parsed from.
    digest: str = ""
    description: str = ""

    def for_agency(self, agency: str) -> AgencyPolicy:
        found = self.agencies.get(agency)
        return found if found is not None else AgencyPolicy(agency, {})


#: The policy that denies everything (a hub with no policy loaded).
DENY_ALL = Policy({}, source="<deny all>")


def load_policy(path: str | Path, registry: RecordTypeRegistry | None = None) -> Policy:
    """Read and validate the policy file at *path*."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicySyntaxError(str(path), "", f"cannot read the policy file: {exc}") from exc
    return parse_policy(data, source=str(path), registry=registry)


def parse_policy(
    data: bytes | str, *, source: str = "<policy>", registry: RecordTypeRegistry | None = None
) -> Policy:
    """Validate policy TOML (*data*) against the record types of *registry*."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    registry = registry if registry is not None else default_registry()
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicySyntaxError(source, "", f"not valid TOML: {exc}") from exc
    return _Parser(source, registry).policy(doc, hashlib.sha256(raw).hexdigest())


class _Parser:
    def __init__(self, source: str, registry: RecordTypeRegistry) -> None:
        self.source, self.registry = source, registry

    def fail(self, key: str, problem: str) -> PolicyValidationError:
        return PolicyValidationError(self.source, key, problem)

    def unknown_keys(self, key: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            raise self.fail(key, f"unknown key(s) {extra}; expected only {sorted(allowed)}")

    def policy(self, doc: Mapping[str, Any], digest: str) -> Policy:
        self.unknown_keys("(top level)", doc, _TOP_KEYS)
        version = doc.get("version")
        if version != POLICY_VERSION:
            raise self.fail("version", f"is {version!r}; expected {POLICY_VERSION}")
        agencies_doc = doc.get("agency", {})
        if not isinstance(agencies_doc, Mapping):
            raise self.fail("agency", "expected a table of agencies ([agency.<NAME>])")
        agencies: dict[str, AgencyPolicy] = {}
        for name, table in agencies_doc.items():
            key = f"agency.{name}"
            if name not in AGENCIES:
                raise self.fail(key, f"unknown agency {name!r}; expected one of {list(AGENCIES)}")
            agencies[name] = self.agency(key, name, table)
        description = doc.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description", "expected a string")
        return Policy(agencies, source=self.source, digest=digest, description=description)

    def agency(self, key: str, name: str, table: Any) -> AgencyPolicy:
        if not isinstance(table, Mapping):
            raise self.fail(key, "expected a table")
        self.unknown_keys(key, table, _AGENCY_KEYS)
        description = table.get("description", "")
        if not isinstance(description, str):
            raise self.fail(f"{key}.description", "expected a string")
        grants_doc = table.get("grant", [])
        if not isinstance(grants_doc, list):
            raise self.fail(f"{key}.grant", "expected an array of tables ([[...grant]])")
        per_type: dict[str, list[TypeGrant]] = {}
        for i, grant in enumerate(grants_doc):
            for type_name, type_grant in self.grant(f"{key}.grant[{i}]", grant):
                per_type.setdefault(type_name, []).append(type_grant)
        types = {name: TypeAccess(name, tuple(grants)) for name, grants in per_type.items()}
        return AgencyPolicy(name, types, description)

    def strings(self, key: str, value: Any, *, nonempty: bool = True) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "expected an array of non-empty strings")
        if nonempty and not value:
            raise self.fail(key, "expected at least one entry")
        return value

    def grant(self, key: str, table: Any) -> list[tuple[str, TypeGrant]]:
        if not isinstance(table, Mapping):
            raise self.fail(key, "expected a table")
        self.unknown_keys(key, table, _GRANT_KEYS)
        if "types" not in table:
            raise self.fail(f"{key}.types", "missing; expected an array of record type names")
        specs: list[RecordType] = []
        for name in self.strings(f"{key}.types", table["types"]):
            spec = self.registry.get(name)
            if spec is None:
                raise self.fail(
                    f"{key}.types", f"unknown record type {name!r}; known: {self.registry.names()}"
                )
            specs.append(spec)
        sites = frozenset(self.strings(f"{key}.sites", table.get("sites", []), nonempty=False))
        owners = self.strings(f"{key}.owners", table.get("owners", []), nonempty=False)
        for owner in owners:
            if owner not in AGENCIES:
                raise self.fail(
                    f"{key}.owners", f"unknown agency {owner!r}; expected one of {list(AGENCIES)}"
                )
        if "disclose" not in table:
            raise self.fail(
                f"{key}.disclose",
                'missing; expected "all", "none" or an array of sensitive field names '
                "(an explicit choice: nothing is disclosed by default)",
            )
        disclose = table["disclose"]
        when_doc = table.get("when", [])
        if not isinstance(when_doc, list):
            raise self.fail(f"{key}.when", "expected an array of inline tables")
        out: list[tuple[str, TypeGrant]] = []
        for spec in specs:
            fields = self.disclosed(f"{key}.disclose", disclose, spec)
            when = tuple(
                self.condition(f"{key}.when[{j}]", c, spec) for j, c in enumerate(when_doc)
            )
            out.append((spec.name, TypeGrant(fields, sites, frozenset(owners), when)))
        return out

    def disclosed(self, key: str, value: Any, spec: RecordType) -> frozenset[str]:
        if value == "all":
            return spec.sensitive
        if value == "none":
            return frozenset()
        names = self.strings(key, value, nonempty=False)
        for name in names:
            if name not in spec.sensitive:
                what = "a clear field (always visible)" if name in spec.fields else "not a field"
                raise self.fail(
                    key,
                    f"{name!r} of {spec.name!r} is {what}; expected one of its sensitive "
                    f"fields {sorted(spec.sensitive)}",
                )
        return frozenset(names)

    def condition(self, key: str, table: Any, spec: RecordType) -> Condition:
        if not isinstance(table, Mapping):
            raise self.fail(key, "expected an inline table {field = ..., <operator> = ...}")
        ops = [op for op in table if op != "field"]
        self.unknown_keys(key, table, frozenset({"field", *OPERATORS}))
        if len(ops) != 1:
            raise self.fail(key, f"expected exactly one operator of {list(OPERATORS)}, got {ops}")
        path_s = table.get("field")
        if not isinstance(path_s, str) or not path_s:
            raise self.fail(f"{key}.field", "missing; expected a body field name (dotted path)")
        path = tuple(path_s.split("."))
        head = spec.fields.get(path[0])
        if head is None:
            raise self.fail(
                f"{key}.field",
                f"{path[0]!r} is not a field of {spec.name!r}; expected one of "
                f"{sorted(n for n in spec.fields if n not in spec.sensitive)}",
            )
        if head.sensitive:
            raise self.fail(
                f"{key}.field",
                f"{path[0]!r} of {spec.name!r} is sensitive; conditions may only read clear "
                "fields (visibility must not depend on a value the agency may not see)",
            )
        if len(path) > 1 and head.kind not in ("map", "any"):
            raise self.fail(
                f"{key}.field", f"{path[0]!r} is {head.kind}, not a map; no dotted path into it"
            )
        op = ops[0]
        value = table[op]
        scalar = (str, int, float, bool)
        if op == "equals" and not isinstance(value, scalar):
            raise self.fail(f"{key}.equals", "expected a string, number or boolean")
        if op in ("in", "contains_any"):
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, scalar) for v in value)
            ):
                raise self.fail(f"{key}.{op}", "expected a non-empty array of scalars")
            if op == "contains_any" and len(path) == 1 and head.kind not in ("list", "any"):
                raise self.fail(f"{key}.contains_any", f"{path[0]!r} is {head.kind}, not a list")
            value = tuple(value)
        if op == "present" and not isinstance(value, bool):
            raise self.fail(f"{key}.present", "expected true or false")
        if len(path) == 1 and head.choices is not None and op in ("equals", "in"):
            wanted = [value] if op == "equals" else list(value)
            bad = [v for v in wanted if v not in head.choices]
            if bad:
                raise self.fail(
                    f"{key}.{op}",
                    f"{bad} never occur in {spec.name}.{path[0]}; expected one of "
                    f"{sorted(head.choices)}",
                )
        return Condition(path, op, value)


def policy_types(policy: Policy) -> Sequence[str]:
    """Every record type some agency may see (sorted)."""
    return sorted({t for a in policy.agencies.values() for t in a.types})


__all__ = [
    "DENY_ALL",
    "EXAMPLE_POLICY",
    "OPERATORS",
    "POLICY_VERSION",
    "AgencyPolicy",
    "Condition",
    "Policy",
    "TypeAccess",
    "TypeGrant",
    "load_policy",
    "parse_policy",
    "policy_types",
]
