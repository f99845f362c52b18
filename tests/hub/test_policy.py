"""The federation policy: the shipped example decides sensibly; bad files fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderlink.hub.errors import PolicyError, PolicySyntaxError, PolicyValidationError
from borderlink.hub.policy import EXAMPLE_POLICY, Policy, load_policy, parse_policy

EXAMPLE = EXAMPLE_POLICY
IDENTITY = {"surname", "given_names", "document_number", "birth_date"}


@pytest.fixture(scope="module")
def example() -> Policy:
    return load_policy(EXAMPLE)


def doc_body(verdict: str = "clear", reasons: tuple[str, ...] = (), **extra: object) -> dict:
    return {"verdict": verdict, "reasons": list(reasons), **extra}


def test_example_customs_sees_radiation_and_lab_in_full(example: Policy) -> None:
    scc = example.for_agency("SCC")
    assert scc.access("radiation.alarm").decide("AZ-BIL", "SCC") == {"plate"}
    assert scc.access("radiation.occupancy").decide("AZ-BIL", "SCC") == {"plate"}
    assert scc.access("lab.analysis").decide("AZ-BIL", "SCC") == {"analyst"}


def test_example_customs_sees_document_checks_only_of_referred_travellers(example: Policy) -> None:
    access = example.for_agency("SCC").access("document.check")
    assert access is not None and access.needs_body
    assert access.decide("AZ-BIL", "SBS", doc_body()) is None
    assert access.decide("AZ-BIL", "SBS", doc_body("refer", ("expired",))) is None
    # An immigration hit is not customs business.
    ban = {"category": "entry_ban", "list": "SMS-BANNED-PERSONS"}
    assert (
        access.decide("AZ-BIL", "SBS", doc_body("hit", ("watchlist_person",), watchlist=ban))
        is None
    )
    referred = doc_body("refer", ("uv_flag", "customs_referral"))
    assert access.decide("AZ-BIL", "SBS", referred) == IDENTITY
    smuggler = doc_body("hit", ("watchlist_person",), watchlist={"category": "smuggling"})
    assert access.decide("AZ-BIL", "SBS", smuggler) == IDENTITY
    # Without the body a conditional type is never visible.
    assert access.decide("AZ-BIL", "SBS", None) is None


def test_example_migration_sees_identity_but_no_lab_and_no_radiation(example: Policy) -> None:
    sms = example.for_agency("SMS")
    assert sms.access("document.check").decide("AZ-BIL", "SBS") == IDENTITY | {"personal_number"}
    for denied in ("lab.analysis", "radiation.alarm", "radiation.occupancy", "call.record"):
        assert sms.access(denied) is None


def test_example_border_service(example: Policy) -> None:
    sbs = example.for_agency("SBS")
    assert "mrz" in sbs.access("document.check").decide("AZ-BIL", "SBS")
    assert sbs.access("lab.analysis") is None
    alarm = sbs.access("radiation.alarm")
    assert alarm.decide("AZ-BIL", "SCC", {"nuisance": False}) == frozenset()  # seen, no plate
    assert alarm.decide("AZ-BIL", "SCC", {"nuisance": True}) is None
    boot = sbs.access("node.boot")
    assert boot.decide("AZ-BIL", "SBS") == frozenset()
    assert boot.decide("AZ-BIL", "SCC") is None  # another agency's node


def test_unlisted_agency_sees_nothing() -> None:
    policy = parse_policy("version = 1\n[agency.SBS]\n")
    assert policy.for_agency("SCC").types == {}
    assert policy.for_agency("SBS").types == {}


def test_grants_add_up() -> None:
    policy = parse_policy(
        """version = 1
[[agency.SMS.grant]]
types = ["document.check"]
disclose = ["surname"]
[[agency.SMS.grant]]
types = ["document.check"]
sites = ["AZ-AST"]
disclose = ["birth_date"]
"""
    )
    access = policy.for_agency("SMS").access("document.check")
    assert access.decide("AZ-BIL", "SBS") == {"surname"}
    assert access.decide("AZ-AST", "SBS") == {"surname", "birth_date"}


def test_digest_and_source_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("version = 1\n")
    policy = load_policy(path)
    assert policy.source == str(path)
    assert len(policy.digest) == 64 and policy.digest != load_policy(EXAMPLE).digest


G = '[[agency.SCC.grant]]\ntypes = ["document.check"]\n'

BAD = [
    # (policy text, error class, substrings the message must hold)
    ("version = [", PolicySyntaxError, ["not valid TOML"]),
    ("version = 2\n", PolicyValidationError, ["version", "expected 1"]),
    ("version = 1\nextra = 1\n", PolicyValidationError, ["(top level)", "'extra'"]),
    ("version = 1\n[agency.FBI]\n", PolicyValidationError, ["agency.FBI", "unknown agency 'FBI'"]),
    ("version = 1\n[agency.SCC]\nrole = 1\n", PolicyValidationError, ["agency.SCC", "'role'"]),
    (
        'version = 1\n[[agency.SCC.grant]]\ntypes = ["x.ray"]\ndisclose = "none"\n',
        PolicyValidationError,
        ["agency.SCC.grant[0].types", "unknown record type 'x.ray'"],
    ),
    (
        'version = 1\n[[agency.SCC.grant]]\ndisclose = "none"\n',
        PolicyValidationError,
        ["agency.SCC.grant[0].types", "missing"],
    ),
    (f"version = 1\n{G}", PolicyValidationError, ["grant[0].disclose", "missing"]),
    (
        f'version = 1\n{G}disclose = ["shoe_size"]\n',
        PolicyValidationError,
        ["grant[0].disclose", "'shoe_size'", "not a field", "sensitive fields"],
    ),
    (
        f'version = 1\n{G}disclose = ["verdict"]\n',
        PolicyValidationError,
        ["'verdict'", "clear field"],
    ),
    (
        f'version = 1\n{G}disclose = "none"\nowners = ["NSA"]\n',
        PolicyValidationError,
        ["grant[0].owners", "unknown agency 'NSA'"],
    ),
    (
        f'version = 1\n{G}disclose = "none"\nwhen = [{{ field = "surname", equals = "X" }}]\n',
        PolicyValidationError,
        ["grant[0].when[0].field", "'surname'", "sensitive"],
    ),
    (
        f'version = 1\n{G}disclose = "none"\nwhen = [{{ field = "colour", equals = "X" }}]\n',
        PolicyValidationError,
        ["when[0].field", "'colour' is not a field"],
    ),
    (
        f'version = 1\n{G}disclose = "none"\nwhen = [{{ field = "verdict", like = "X" }}]\n',
        PolicyValidationError,
        ["when[0]", "'like'"],
    ),
    (
        f'version = 1\n{G}disclose = "none"\nwhen = [{{ field = "verdict", in = ["maybe"] }}]\n',
        PolicyValidationError,
        ["when[0].in", "['maybe']", "clear"],
    ),
    (
        f'version = 1\n{G}disclose = "none"\nwhen = [{{ field = "verdict", contains_any = ["a"] }}]\n',
        PolicyValidationError,
        ["when[0].contains_any", "not a list"],
    ),
    (
        f'version = 1\n{G}disclose = "none"\nwhen = [{{ field = "line.x", present = true }}]\n',
        PolicyValidationError,
        ["when[0].field", "not a map"],
    ),
    (
        f'version = 1\n{G}disclose = "none"\nwhen = [{{ field = "verdict", present = "yes" }}]\n',
        PolicyValidationError,
        ["when[0].present", "true or false"],
    ),
]


@pytest.mark.parametrize(("text", "error", "expected"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_policies_name_file_key_and_expectation(
    text: str, error: type[PolicyError], expected: list[str]
) -> None:
    with pytest.raises(error) as info:
        parse_policy(text, source="bad.toml")
    message = str(info.value)
    assert message.startswith("bad.toml: ")
    for part in expected:
        assert part in message, (part, message)


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicySyntaxError, match="cannot read"):
        load_policy(tmp_path / "absent.toml")


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_any_text_is_a_policy_or_a_policy_error(text: str) -> None:
    try:
        parse_policy(text)
    except PolicyError:
        pass


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(body=st.dictionaries(st.sampled_from(["verdict", "reasons", "watchlist", "x"]), _VALUES))
@settings(max_examples=300, deadline=None)
def test_conditions_never_fail_on_odd_bodies(body: dict) -> None:
    """Whatever a body holds, deciding returns fields or None (never raises)."""
    access = load_policy(EXAMPLE).for_agency("SCC").access("document.check")
    result = access.decide("AZ-BIL", "SBS", body)
    referred = (
        body.get("verdict") in ("refer", "hit")
        and isinstance(body.get("reasons"), list)
        and any(r == "customs_referral" for r in body["reasons"])
    )
    watch = body.get("watchlist")
    listed = isinstance(watch, dict) and watch.get("category") in (
        "smuggling",
        "customs_debt",
        "customs_interest",
    )
    assert (result is not None) == (referred or listed)
