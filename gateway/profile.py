"""Gateway profiles: TOML files that fix the quota, latency, node pool and keys of a run.

A profile may name another in `inherit`; its tables are merged over the parent's, so the small
profiles only say what differs from `default`. Validation is pydantic's, with every message
prefixed by the dotted field path so that a bad profile names its bad field.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from .profile_modifiers import check_modifiers  # issue 12, modifiers
from .profile_shaping import QueueingConfig, check_shaping_and_concurrency  # issue 12, shaping
from .ratelimit_headers import CLASHES as HEADER_CLASHES, FAMILIES as HEADER_FAMILIES

PROFILE_DIR = Path(__file__).parent / "profiles"


class ProfileError(ValueError):
    """A profile that cannot be loaded; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Bounds past which a setting is a mistake, not a quota: TOML and --set read `inf` and `nan` as
# floats, and a figure too large breaks the arithmetic or the headers that state it (a
# structured-field Integer has at most 15 digits).
YEAR_S = 366 * 86400
Seconds = Annotated[float, Field(gt=0, le=YEAR_S, allow_inf_nan=False)]
Count = Annotated[int, Field(gt=0, le=10**9)]


# (issue 12, "headers" part)
class DeclaredPolicy(_Strict):
    """What the rate-limit headers declare instead of the real policy (a lying header)."""
    limit: Count
    window_s: Seconds


class QuotaConfig(_Strict):
    algorithm: Literal["fixed_window", "sliding_log", "sliding_counter", "token_bucket",
                       "concurrency", "none"]
    # Where fixed windows start: at a key's first request after the previous window ended
    # (the `limits` library's fixed window), or on multiples of window_s since the epoch.
    alignment: Literal["first_request", "epoch"] = "first_request"
    limit: Count | None = None
    window_s: Annotated[int, Field(gt=0, le=YEAR_S)] | None = None
    # at least one request in about three hours
    rate_per_s: Annotated[float, Field(ge=1e-4, le=10**6, allow_inf_nan=False)] | None = None
    burst: Count | None = None
    scope: Literal["per_key", "global"] = "per_key"
    retry_after: Literal["honest", "constant", "absent"] = "honest"
    retry_after_constant_s: Annotated[float, Field(ge=0, le=YEAR_S, allow_inf_nan=False)] = 1
    retry_after_ms: bool = False
    # --- shaping and the concurrency cap (issue 12, the "shaping" part) ---
    queueing: QueueingConfig | None = None
    # The status a request over the concurrency cap gets (429 when not given).
    concurrency_status: Literal[429, 503] | None = None

    @model_validator(mode="after")
    def _shaping_and_concurrency(self) -> QuotaConfig:
        check_shaping_and_concurrency(self)
        return self
    # --- end of the "shaping" part ---
    # -- rate-limit headers (issue 12, "headers" part): families sent, and a declared lie --
    headers: list[Literal[HEADER_FAMILIES]] = []
    declares: DeclaredPolicy | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed_headers_field(cls, data: Any) -> Any:
        if isinstance(data, dict) and "ratelimit_headers" in data:
            raise ValueError("quota.ratelimit_headers was replaced by quota.headers, a list of "
                             f"families ({', '.join(HEADER_FAMILIES)}), e.g. headers = "
                             "[\"openai\"]; 'ietf' is now 'ietf-06' and 'x' is 'github'")
        return data

    @field_validator("headers")
    @classmethod
    def _families_distinct_and_compatible(cls, v: list[str]) -> list[str]:
        for name in set(v):
            if v.count(name) > 1:
                raise ValueError(f"{name!r} is listed twice")
        for pair in HEADER_CLASHES:
            if pair <= set(v):
                a, b = sorted(pair)
                raise ValueError(f"{a!r} and {b!r} write RateLimit and RateLimit-Policy in "
                                 "two different shapes; send one of them")
        return v

    @model_validator(mode="after")
    def _declares_needs_headers(self) -> QuotaConfig:
        if self.declares is not None and not self.headers:
            raise ValueError("quota.declares needs quota.headers: no header would declare it")
        return self
    # -- end of the rate-limit headers part --
    # --- modifiers (issue 12, "modifiers": counts_rejected, lockout, epoch phase) ----------
    # Refused requests use up quota too. Sliding log and token bucket then keep a tight loop
    # locked out; the sliding counter becomes HAProxy's (gateway/windows.py); on fixed windows
    # refusals add to the count but never move the window's end, so admission is unchanged.
    counts_rejected: bool = False
    # After the quota refuses a key, the key is refused for lockout_s whatever the quota says;
    # lockout_extends: a refusal during the lockout restarts it from that refusal.
    lockout_s: Seconds | None = None
    lockout_extends: bool = False
    # Epoch-aligned windows start at phase_s + k*window_s since the Unix epoch; "key_hash"
    # derives the phase per key (gateway/windows.py, key_phase_s).
    phase_s: float | Literal["key_hash"] = 0.0

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and "count_rejected" in data:
            raise ValueError("quota.count_rejected is now called quota.counts_rejected")
        return data

    @field_validator("phase_s", mode="before")
    @classmethod
    def _phase_number_or_key_hash(cls, v: Any) -> Any:
        if v == "key_hash" or (isinstance(v, (int, float)) and not isinstance(v, bool)
                               and v >= 0):
            return v
        raise ValueError(f"quota.phase_s must be a number of seconds >= 0 or 'key_hash', "
                         f"not {v!r}")

    @model_validator(mode="after")
    def _modifiers_fit(self) -> QuotaConfig:
        check_modifiers(self)
        return self
    # --- end of modifiers --------------------------------------------------------------------

    @model_validator(mode="after")
    def _parameters_for_algorithm(self) -> QuotaConfig:
        if self.algorithm in ("fixed_window", "sliding_log", "sliding_counter"):
            for name in ("limit", "window_s"):
                if getattr(self, name) is None:
                    raise ValueError(f"quota.{name} is required for algorithm {self.algorithm!r}")
        if self.algorithm == "token_bucket":
            for name in ("rate_per_s", "burst"):
                if getattr(self, name) is None:
                    raise ValueError(f"quota.{name} is required for algorithm 'token_bucket'")
        return self


class LatencyConfig(_Strict):
    ttft_ms: NonNegativeFloat = 30
    per_token_ms: NonNegativeFloat = 5
    output_tokens: PositiveInt = 16
    # Each request's latency is scaled by a factor drawn uniformly from [1-jitter, 1+jitter].
    jitter: float = Field(0.0, ge=0, lt=1)
    seed: int = 0


class OutageConfig(_Strict):
    start_s: NonNegativeFloat
    end_s: PositiveFloat
    down: PositiveInt

    @model_validator(mode="after")
    def _ordered(self) -> OutageConfig:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class NodesConfig(_Strict):
    count: PositiveInt = 4
    slots: PositiveInt = 4
    routing_delay_ms: NonNegativeFloat = 50
    # Each node is offline for a whole second with this probability (seeded, so repeatable).
    random_offline_p: float = Field(0.0, ge=0, le=1)
    seed: int = 0
    retry_after_s: PositiveInt | None = None
    outage: list[OutageConfig] = []

    @model_validator(mode="after")
    def _outages_fit(self) -> NodesConfig:
        for i, o in enumerate(self.outage):
            if o.down > self.count:
                raise ValueError(f"outage[{i}].down={o.down} exceeds nodes.count={self.count}")
        return self


class KeyConfig(_Strict):
    key: str = Field(min_length=8, pattern=r"^\S+$")
    name: str
    models: list[str] = ["*"]
    revoked: bool = False
    expires_at: dt.datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("expires_at needs a time zone, for example 2024-01-01T00:00:00Z")
        return v

    def allows(self, model: str) -> bool:
        return "*" in self.models or model in self.models


class Profile(_Strict):
    name: str
    description: str = ""
    models: list[str] = Field(["llama3.2:1b", "llama3.2:3b"], min_length=1)
    quota: QuotaConfig
    latency: LatencyConfig = LatencyConfig()
    nodes: NodesConfig = NodesConfig()
    keys: list[KeyConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_keys(self) -> Profile:
        seen = set()
        for k in self.keys:
            if k.key in seen:
                raise ValueError(f"key {k.name!r} is listed twice")
            seen.add(k.key)
        return self


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def _profile_path(spec: str) -> Path:
    path = Path(spec)
    if path.suffix == ".toml" or "/" in spec:
        if not path.is_file():
            raise ProfileError(f"profile file {spec} does not exist")
        return path
    path = PROFILE_DIR / f"{spec}.toml"
    if not path.is_file():
        raise ProfileError(
            f"unknown profile {spec!r}; available: {', '.join(available_profiles())} "
            "(or give a path to a .toml file)"
        )
    return path


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_raw(spec: str, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    path = _profile_path(spec)
    if str(path.resolve()) in chain:
        raise ProfileError(f"profile {path}: inherit loops back to itself")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {path}: not valid TOML: {exc}") from None
    parent = raw.pop("inherit", None)
    raw.setdefault("name", path.stem)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ProfileError(f"profile {path}: inherit must be a profile name")
    base = _read_raw(parent, chain + (str(path.resolve()),))
    base.pop("name", None)
    base.pop("description", None)
    return _merge(base, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`quota.limit=5` -> (['quota', 'limit'], 5); the value is read as TOML, else as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ProfileError(f"override {text!r} is not of the form table.field=value")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return name.strip().split("."), parsed


def load_profile(spec: str, overrides: list[str] = ()) -> Profile:
    raw = _read_raw(spec)
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ProfileError(f"override {text!r}: {part} is not a table")
        node[path[-1]] = value
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "profile"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {where}: {msg}")
        raise ProfileError(f"profile {spec!r} is invalid:\n" + "\n".join(lines)) from None
