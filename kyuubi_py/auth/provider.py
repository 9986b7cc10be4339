"""Password authentication providers for SASL PLAIN, and the user-name rules every one obeys.

A provider's ``authenticate(user, password)`` returns the canonical user name (or ``None`` to keep
the name the client gave) and raises to reject. The name that comes out becomes the session user,
a ZooKeeper path segment and the engine's user, so :func:`validate_user_name` runs on the name
going in and on the name coming out (see :func:`kyuubi_py.auth.types.make_authenticator`).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import unicodedata
from typing import Protocol, cast, runtime_checkable

from kyuubi_py.config.conf import KyuubiConf
from kyuubi_py.errors import AuthenticationError, ConfigError

__all__ = [
    "LOGIN_FAILED",
    "MAX_USER_NAME_BYTES",
    "AnonymousProvider",
    "GroupProvider",
    "PasswdAuthenticationProvider",
    "load_custom_provider",
    "user_name_problem",
    "validate_user_name",
]

log = logging.getLogger(__name__)

#: The only rejection text a client sees (Hive's wording); the real reason goes to the log.
LOGIN_FAILED = "Error validating the login"

#: Longest accepted user name, in UTF-8 bytes (a file-name component's limit).
MAX_USER_NAME_BYTES = 255

# Unicode categories that never belong in a user name: controls (NUL, newline, DEL, C1), format
# characters (zero-width joiners and direction marks make look-alike names) and surrogates
# (left behind by undecodable bytes).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@runtime_checkable
class PasswdAuthenticationProvider(Protocol):
    """Checks a user name and password; Kyuubi's ``PasswdAuthenticationProvider``."""

    def authenticate(self, user: str, password: str) -> str | None:
        """The canonical user name, or ``None`` to keep ``user``; raise to reject."""
        ...


@runtime_checkable
class GroupProvider(Protocol):
    """A provider that also knows its users' groups (LDAP), for GROUP share level routing."""

    def groups_of(self, user: str) -> list[str]:
        """Group names of ``user``, sorted; empty when unknown."""
        ...

    def primary_group(self, user: str) -> str | None:
        """The group a GROUP share level engine is keyed by: the first of :meth:`groups_of`."""
        ...


def user_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a session user (or a group routing key), or ``None`` when it can.

    Names end up as ZooKeeper path segments, engine user names and log fields, so only names
    that are safe in all of those pass: not empty, at most 255 UTF-8 bytes, no control or
    invisible format characters, no leading or trailing white space, no ``/``, not ``.`` or
    ``..``, and in Unicode NFC form (so one person cannot own two engines by sending the
    composed and decomposed spellings of the same name).
    """
    if not name:
        return "empty"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_USER_NAME_BYTES:
        return f"longer than {MAX_USER_NAME_BYTES} bytes"
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        return "contains a control or format character"
    if name != name.strip():
        return "has leading or trailing white space"
    if "/" in name or name in (".", ".."):
        return "not usable as a path segment"
    if not unicodedata.is_normalized("NFC", name):
        return "not in Unicode NFC form"
    return None


def validate_user_name(user: str) -> str:
    """Return ``user`` unchanged when it may become a session user (see
    :func:`user_name_problem`); raise :class:`AuthenticationError` otherwise."""
    problem = user_name_problem(user)
    if problem is not None:
        # Cut the name in the log: it may be 64 KB of garbage.
        shown = user if len(user) <= 80 else user[:80] + "..."
        log.warning("Rejected user name %r: %s", shown, problem)
        raise AuthenticationError(LOGIN_FAILED)
    return user


class AnonymousProvider:
    """NONE: any password is accepted and the client's name is kept (it is still validated)."""

    def authenticate(self, user: str, password: str) -> str | None:
        validate_user_name(user)
        return None


def load_custom_provider(dotted_path: str | None, conf: KyuubiConf) -> PasswdAuthenticationProvider:
    """Import ``module.Class`` and instantiate it, passing ``conf`` when the constructor takes an
    argument. Any problem is a :class:`ConfigError` naming the class, raised at start-up rather
    than on the first login."""
    if not dotted_path or not dotted_path.strip():
        raise ConfigError(
            "kyuubi.authentication.custom.class must name a provider class (module.Class) "
            "when kyuubi.authentication is CUSTOM"
        )
    cls = _import_class(dotted_path.strip())
    instance = _instantiate(cls, dotted_path, conf)
    if not callable(getattr(instance, "authenticate", None)):
        raise ConfigError(
            f"Custom authentication provider {dotted_path} has no authenticate(user, password) "
            "method"
        )
    return cast(PasswdAuthenticationProvider, instance)


def _import_class(dotted_path: str) -> object:
    module_name, _, class_name = dotted_path.rpartition(".")
    if not module_name or not class_name:
        raise ConfigError(
            f"Custom authentication provider {dotted_path!r} is not a dotted path (module.Class)"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken module can raise anything while it is imported
        raise ConfigError(
            f"Cannot import module {module_name} of custom authentication provider "
            f"{dotted_path}: {exc!r}"
        ) from exc
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise ConfigError(
            f"Custom authentication provider {dotted_path}: {module_name} has no class {class_name}"
        )
    return cls


def _instantiate(cls: object, dotted_path: str, conf: KyuubiConf) -> object:
    assert callable(cls)
    args = _constructor_args(cls, dotted_path, conf)
    try:
        return cls(*args)
    except Exception as exc:
        raise ConfigError(
            f"Custom authentication provider {dotted_path} failed to initialize: {exc!r}"
        ) from exc


def _constructor_args(cls: object, dotted_path: str, conf: KyuubiConf) -> tuple[object, ...]:
    """``(conf,)`` when the constructor accepts one positional argument, else ``()``."""
    assert callable(cls)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return ()  # no introspectable signature (a C type): try the no-argument form
    for args in ((conf,), ()):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return args
    raise ConfigError(
        f"Custom authentication provider {dotted_path} must have a constructor taking no "
        "arguments or one (the KyuubiConf)"
    )
