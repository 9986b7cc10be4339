"""User-name rules, the NONE provider and CUSTOM provider loading (no network)."""

from __future__ import annotations

import itertools
import sys
import textwrap
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kyuubi_py.auth.provider import (
    AnonymousProvider,
    PasswdAuthenticationProvider,
    load_custom_provider,
    user_name_problem,
    validate_user_name,
)
from kyuubi_py.auth.types import make_authenticator
from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import AuthenticationError, ConfigError

LOGIN_FAILED = "^Error validating the login$"


# -- validate_user_name ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "alice",
        "Alice.B",
        "john smith",
        "user@example.com",
        "svc_etl-01",
        "a" * 255,
        "é" * 127,  # 254 bytes
        unicodedata.normalize("NFC", "jose\u0301"),
        "用户",
    ],
)
def test_valid_user_names(name: str) -> None:
    assert validate_user_name(name) == name
    assert user_name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        " alice",
        "alice ",
        "\talice",
        "alice\n",
        "al\x00ice",
        "\x00",
        "al\rice",
        "al\x1bice",
        "al\x7fice",
        "al\x85ice",  # C1 control
        "ali\u200bce",  # zero-width space
        "\u202ealice",  # right-to-left override
        "alice\u2028",
        "a/b",
        "/",
        "../etc",
        ".",
        "..",
        "a" * 256,
        "é" * 128,  # 256 bytes
        "x" * 65536,
        "jose\u0301",  # NFD: the NFC spelling is the one accepted
        "\udcff",  # a lone surrogate, as undecodable bytes leave behind
    ],
)
def test_invalid_user_names(name: str) -> None:
    assert user_name_problem(name) is not None
    with pytest.raises(AuthenticationError, match=LOGIN_FAILED):
        validate_user_name(name)


def test_rejection_log_is_bounded_and_escaped(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(AuthenticationError):
        validate_user_name("x" * 65536)
    with pytest.raises(AuthenticationError):
        validate_user_name("evil\nFAKE LOG LINE")
    assert len(caplog.text) < 2000
    assert "\nFAKE LOG LINE" not in caplog.text


# -- NONE --------------------------------------------------------------------------------------


def test_anonymous_provider_accepts_any_password_but_not_bad_names() -> None:
    provider = AnonymousProvider()
    assert isinstance(provider, PasswdAuthenticationProvider)
    assert provider.authenticate("alice", "") is None
    assert provider.authenticate("alice", "anything") is None
    for name in ("", "a/b", "\x00"):
        with pytest.raises(AuthenticationError):
            provider.authenticate(name, "pw")


def test_authenticator_around_none_keeps_the_given_name() -> None:
    authenticate = make_authenticator(AnonymousProvider())
    assert authenticate("Alice", "x") == "Alice"
    with pytest.raises(AuthenticationError, match=LOGIN_FAILED):
        authenticate(" alice", "x")


# -- CUSTOM ------------------------------------------------------------------------------------

_counter = itertools.count()


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write a module with the given source under a fresh name; returns the name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def make(source: str) -> str:
        name = f"kyuubi_py_test_custom_auth_{next(_counter)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield make
    for name in names:
        sys.modules.pop(name, None)


PROVIDERS = """
    from kyuubi_py.errors import AuthenticationError

    class NoArgs:
        def authenticate(self, user, password):
            if password != "open-sesame":
                raise AuthenticationError("custom says no")
            return None

    class WithConf:
        def __init__(self, conf):
            self.conf = conf
        def authenticate(self, user, password):
            return self.conf.get_raw("test.canonical") or user

    class OptionalConf:
        def __init__(self, conf=None):
            self.conf = conf
        def authenticate(self, user, password):
            return None

    class TwoArgs:
        def __init__(self, conf, other):
            pass
        def authenticate(self, user, password):
            return None

    class NoAuthenticate:
        pass

    class NotCallable:
        authenticate = "yes"

    class Exploding:
        def __init__(self):
            raise RuntimeError("boom")

    class Returns:
        value = None
        def authenticate(self, user, password):
            return type(self).value

    class Raises:
        def authenticate(self, user, password):
            raise ValueError("secret detail")

    def not_a_class(user, password):
        return None
"""


def test_custom_provider_without_constructor_arguments(make_module: Callable[[str], str]) -> None:
    module = make_module(PROVIDERS)
    provider = load_custom_provider(f"{module}.NoArgs", KyuubiConf())
    authenticate = make_authenticator(provider)
    assert authenticate("alice", "open-sesame") == "alice"
    # The provider's own AuthenticationError text is its choice to show.
    with pytest.raises(AuthenticationError, match="^custom says no$"):
        authenticate("alice", "wrong")


def test_custom_provider_gets_the_conf(make_module: Callable[[str], str]) -> None:
    module = make_module(PROVIDERS)
    conf = KyuubiConf({"test.canonical": "alice"})
    provider = load_custom_provider(f" {module}.WithConf ", conf)
    assert provider.conf is conf  # type: ignore[attr-defined]
    assert make_authenticator(provider)("ALICE", "pw") == "alice"
    optional = load_custom_provider(f"{module}.OptionalConf", conf)
    assert optional.conf is conf  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (None, "must name a provider class"),
        ("", "must name a provider class"),
        ("NoDots", "not a dotted path"),
        ("no_such_module_kyuubi.Provider", "Cannot import module no_such_module_kyuubi"),
        ("{module}.Missing", "has no class Missing"),
        ("{module}.not_a_class", "has no class not_a_class"),
        ("{module}.NoAuthenticate", "has no authenticate"),
        ("{module}.NotCallable", "has no authenticate"),
        ("{module}.TwoArgs", "constructor taking no arguments or one"),
        ("{module}.Exploding", "failed to initialize: RuntimeError"),
    ],
)
def test_broken_custom_providers_are_config_errors(
    make_module: Callable[[str], str], path: str | None, message: str
) -> None:
    module = make_module(PROVIDERS)
    with pytest.raises(ConfigError, match=message):
        load_custom_provider(None if path is None else path.format(module=module), KyuubiConf())


def test_custom_module_that_fails_to_import(make_module: Callable[[str], str]) -> None:
    module = make_module("raise RuntimeError('broken at import')\n")
    with pytest.raises(ConfigError, match="Cannot import module .*broken at import"):
        load_custom_provider(f"{module}.Provider", KyuubiConf())
    syntax = make_module("def (:\n")
    with pytest.raises(ConfigError, match="Cannot import module"):
        load_custom_provider(f"{syntax}.Provider", KyuubiConf())


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "alice"), ("Alice2", "Alice2"), (False, None), (True, None), (0, None), ("a/b", None)],
)
def test_what_a_custom_provider_returns(
    make_module: Callable[[str], str], value: object, expected: str | None
) -> None:
    module = make_module(PROVIDERS)
    provider = load_custom_provider(f"{module}.Returns", KyuubiConf())
    type(provider).value = value  # type: ignore[attr-defined]
    authenticate = make_authenticator(provider)
    if expected is None:
        # Anything but a name or None is a rejection: "return False" must never let anyone in.
        with pytest.raises(AuthenticationError, match=LOGIN_FAILED):
            authenticate("alice", "pw")
    else:
        assert authenticate("alice", "pw") == expected


def test_a_crashing_custom_provider_rejects_without_leaking(
    make_module: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    module = make_module(PROVIDERS)
    authenticate = make_authenticator(load_custom_provider(f"{module}.Raises", KyuubiConf()))
    with pytest.raises(AuthenticationError, match=LOGIN_FAILED):
        authenticate("alice", "the-password")
    assert "secret detail" in caplog.text  # logged for the operator...
    assert "the-password" not in caplog.text  # ...without the password


def test_bad_names_never_reach_the_provider() -> None:
    calls: list[str] = []

    class Recording:
        def authenticate(self, user: str, password: str) -> str | None:
            calls.append(user)
            return None

    authenticate = make_authenticator(Recording())
    for name in ("", "a/b", "..", "x\x00"):
        with pytest.raises(AuthenticationError):
            authenticate(name, "pw")
    assert calls == []
