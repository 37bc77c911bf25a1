"""Personal settings: a TOML file in the platform's config dir (CRM_CONFIG_DIR overrides).

Team-wide settings (lifecycle stages, thresholds, targets) live in the database's
``settings`` table instead, so every user of the file shares them; both are
declared in ``KEYS`` with their scope so ``crm config`` can say which is which.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_cli.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    scope: str  # "personal" (config file) or "team" (database settings table)
    type: str  # "str", "list", "int", "float"
    default: Any
    help: str


KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        Key(
            "user.default",
            "personal",
            "str",
            None,
            "acting user when --as and CRM_USER are unset (default: login name)",
        ),
        Key(
            "phone.region",
            "personal",
            "str",
            None,
            "region for phone numbers written without +country code, e.g. ES",
        ),
        Key(
            "money.currency",
            "personal",
            "str",
            "EUR",
            "currency for amounts given without one (ISO 4217)",
        ),
        Key(
            "time.zone",
            "personal",
            "str",
            None,
            "IANA time zone for input and display (default: the system's)",
        ),
        Key("smtp.host", "personal", "str", None, "SMTP server for outgoing mail"),
        Key("smtp.port", "personal", "int", 587, "SMTP port"),
        Key("smtp.user", "personal", "str", None, "SMTP login"),
        Key(
            "smtp.password_env",
            "personal",
            "str",
            None,
            "name of the environment variable holding the SMTP password",
        ),
        Key(
            "smtp.security",
            "personal",
            "str",
            "starttls",
            "how to secure the SMTP connection: starttls, ssl or none",
        ),
        Key("smtp.from", "personal", "str", None, "sender address (default: smtp.user)"),
        Key(
            "mail.own_addresses",
            "personal",
            "list",
            [],
            "your own addresses besides the team's: imported mail from them is outgoing",
        ),
        Key(
            "campaign.from",
            "team",
            "str",
            None,
            "sender of campaign mail, e.g. 'Shop <news@shop.example>' (default: smtp.from)",
        ),
        Key(
            "campaign.unsubscribe_url",
            "team",
            "str",
            None,
            "https URL for one-click unsubscribe (RFC 8058); {token} is the recipient's token",
        ),
        Key(
            "campaign.unsubscribe_mailto",
            "team",
            "str",
            None,
            "address that takes 'unsubscribe TOKEN' mails, also put in List-Unsubscribe",
        ),
        Key(
            "campaign.conversion_days",
            "team",
            "int",
            30,
            "campaign results: a won deal or order this many days after the send converts",
        ),
        Key(
            "alerts.campaign_bounce_rate",
            "team",
            "float",
            5.0,
            "alert: a campaign whose hard bounces exceed this % of messages sent",
        ),
        Key(
            "alerts.campaign_complaint_rate",
            "team",
            "float",
            0.3,
            "alert: a campaign whose complaints exceed this % of messages sent",
        ),
        Key(
            "hooks.timeout",
            "personal",
            "int",
            30,
            "seconds a hook may run before it is killed (its change is kept)",
        ),
        Key("ticket.target.urgent", "team", "str", "1h", "response target for urgent tickets"),
        Key("ticket.target.high", "team", "str", "4h", "response target for high-priority tickets"),
        Key("ticket.target.normal", "team", "str", "1d", "response target for normal tickets"),
        Key("ticket.target.low", "team", "str", "3d", "response target for low-priority tickets"),
        Key(
            "reports.commit_probability",
            "team",
            "int",
            75,
            "forecast worst case: open deals in stages of this probability (%) or more",
        ),
        Key(
            "reports.churn_factor",
            "team",
            "float",
            1.5,
            "churn: quiet for longer than this many times a customer's usual gap",
        ),
        Key("alerts.stale_days", "team", "int", 30, "alert: an open deal untouched this many days"),
        Key(
            "alerts.stale_days_by_stage",
            "team",
            "list",
            [],
            "alert: per-stage limits for stale deals, STAGE=DAYS (negotiation=7,proposal=14)",
        ),
        Key(
            "alerts.max_per_kind",
            "team",
            "int",
            50,
            "alerts: at most this many of each kind per run (the rest come in later runs)",
        ),
        Key(
            "alerts.target_tolerance",
            "team",
            "float",
            10.0,
            "alert: attainment this many points below the share of the target's period elapsed",
        ),
        Key(
            "alerts.overdue_days",
            "team",
            "int",
            3,
            "alert: an open follow-up this many days past due",
        ),
        Key(
            "contact.stages",
            "team",
            "list",
            ["lead", "prospect", "customer", "churned"],
            "lifecycle stages, in order",
        ),
    ]
}

_cache: dict[str, Any] | None = None
_cache_key: tuple | None = None  # (CRM_CONFIG_DIR, the file's mtime) the cache was read at
_path_for: tuple[str | None, str] = (None, "")  # (CRM_CONFIG_DIR, config file path)
_frozen = False  # inside frozen(): the cached file is not looked at again


def config_dir() -> Path:
    env = os.environ.get("CRM_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("crm", appauthor=False))


def config_path() -> Path:
    return config_dir() / "config.toml"


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """Read the config file at most once inside this block (a batch of rows validated
    in a tight loop asks for the same keys thousands of times)."""
    global _frozen
    outer = _frozen
    _frozen = True
    try:
        yield
    finally:
        _frozen = outer


def load() -> dict[str, Any]:
    """Read the personal config file as flat dotted keys (empty if there is none)."""
    global _cache, _cache_key, _path_for
    if (
        _frozen
        and _cache is not None
        and _cache_key is not None
        and _cache_key[0] == os.environ.get("CRM_CONFIG_DIR", "")
    ):
        return _cache
    env = os.environ.get("CRM_CONFIG_DIR", "")
    if _path_for[0] != env:
        _path_for = (env, str(config_path()))
    try:
        stamp = os.stat(_path_for[1]).st_mtime_ns
    except OSError:
        stamp = None
    key = (env, stamp)
    if _cache is not None and _cache_key == key:
        return _cache
    _cache, _cache_key = _flatten(_read(Path(_path_for[1]))), key
    return _cache


def _read(path: Path) -> dict[str, Any]:
    """The config file as nested tables; empty when there is none."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"config file {path} is not valid TOML: {e}") from None


_PY_TYPES = {"str": str, "int": int, "list": list, "float": (int, float)}


def get(name: str) -> Any:
    """Return a personal setting, or its default; a value of the wrong type is an error."""
    key = KEYS.get(name)
    value = load().get(name)
    if value is None and key is not None:
        return key.default
    if key is not None and (not isinstance(value, _PY_TYPES[key.type]) or isinstance(value, bool)):
        raise InvalidInput(
            f"config key {name} in {config_path()} must be a {key.type}, not {value!r}"
            f" (fix it with: crm config set {name} VALUE)"
        )
    return value


def key(name: str) -> Key:
    if name not in KEYS:
        raise InvalidInput(f"unknown config key '{name}'; known keys: {', '.join(sorted(KEYS))}")
    return KEYS[name]


def coerce(k: Key, text: str) -> Any:
    if k.type == "int":
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(f"{k.name} takes a whole number, not '{text}'") from None
    if k.type == "float":
        try:
            value = float(text)
        except ValueError:
            raise InvalidInput(f"{k.name} takes a number, not '{text}'") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(f"{k.name} takes a finite number, not '{text}'")
        return value
    if k.type == "list":
        items = [p.strip() for p in text.split(",") if p.strip()]
        if not items:
            raise InvalidInput(f"{k.name} takes a comma-separated list")
        return items
    return text


def save_personal(name: str, value: Any) -> Path:
    """Set (or with None, remove) a personal key and write the TOML file atomically."""
    global _cache
    import tomli_w

    path = config_path()
    data = _read(path)
    node = data
    parts = name.split(".")
    for i, p in enumerate(parts[:-1]):
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            where = ".".join(parts[: i + 1])
            raise InvalidInput(
                f"config file {path} has '{where}' as a value, not a table; fix the file first"
            )
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    with open(tmp, "wb") as f:
        tomli_w.dump(data, f)
    os.replace(tmp, path)
    _cache = None
    return path
