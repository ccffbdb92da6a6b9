"""sluice_plugin: write a Sluice policy plugin in Python with only the hooks it needs.

Subclass `Plugin`; its constructor gets the plugin's `Config` and builds the state (once per
instance); define the hooks you need (`on_connect`, `on_helo`, `on_auth`, `on_mail_from`,
`on_rcpt_to`, `on_data`, `on_route`, `on_delivery_result`); then export it::

    from sluice_plugin import Plugin, export, proceed, reject

    class NoWords(Plugin):
        def __init__(self, config):
            self.words = [w.lower() for w in config.list("words", "invoice")]

        def on_data(self, session, message):
            subject = (message.subject() or "").lower()
            for w in self.words:
                if w in subject:
                    return reject(550, "5.7.1", f"no {w} here", rule="subject")
            return proceed()

    Hooks = export(NoWords)

The hooks the host calls are the ones the subclass defines (`implemented` is derived), the
others answer "continue". When the plugin loads, the constructor runs once and any key the
operator set that it did not read is refused: raise `ConfigError(key, why)` for a bad value,
and `sluice check-config` (or a reload) names the plugin and the key. Build with
`componentize-py -d wit -w policy componentize -p plugins/python -p YOUR_DIR app -o out.wasm`.
"""
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Type, TypeVar

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

__all__ = [
    "Config", "ConfigError", "Plugin", "export", "log",
    "proceed", "accept", "reject", "tempfail", "quarantine", "discard",
]

# Each hook method and the `hook` case the host knows it by.
HOOKS = [
    ("on_connect", types.Hook.CONNECT),
    ("on_helo", types.Hook.HELO),
    ("on_auth", types.Hook.AUTH),
    ("on_mail_from", types.Hook.MAIL_FROM),
    ("on_rcpt_to", types.Hook.RCPT_TO),
    ("on_data", types.Hook.DATA),
    ("on_route", types.Hook.ROUTE),
    ("on_delivery_result", types.Hook.DELIVERY_RESULT),
]

T = TypeVar("T")


class ConfigError(Exception):
    """A config the plugin refuses; `key` names the offending key."""

    def __init__(self, key: Optional[str], message: str):
        super().__init__(f"key `{key}`: {message}" if key else message)


class Config:
    """The plugin's config table. Every key read is remembered, so keys never read can be
    refused when the plugin loads: read every key you accept in the constructor."""

    def __init__(self) -> None:
        self.read: set = set()

    def get(self, key: str) -> Optional[str]:
        self.read.add(key)
        return host.config(key)

    def parse(self, key: str, convert: Callable[[str], T], default: T) -> T:
        """`key` converted by `convert` (e.g. `int`), `default` when absent."""
        value = self.get(key)
        if value is None:
            return default
        try:
            return convert(value.strip())
        except ValueError as e:
            raise ConfigError(key, f"{value!r} does not parse: {e}") from None

    def one_of(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.get(key)
        if value is None:
            return default
        if value.strip() not in choices:
            raise ConfigError(key, f"{value!r} is not one of {', '.join(choices)}")
        return value.strip()

    def list(self, key: str, default: str = "") -> List[str]:
        """A comma-separated list, items trimmed, empty ones dropped."""
        value = self.get(key)
        return [s.strip() for s in (default if value is None else value).split(",") if s.strip()]

    def check_unknown(self) -> None:
        unknown = sorted(k for k in host.config_keys() if k not in self.read)
        if unknown:
            known = ", ".join(f"`{k}`" for k in sorted(self.read)) or "none"
            names = ", ".join(f"`{k}`" for k in unknown)
            raise ConfigError(None, f"unknown key{'s' if len(unknown) > 1 else ''} {names} (it knows {known})")


class Plugin:
    """Base class: every hook answers "continue" and is not listed unless overridden."""

    def __init__(self, config: Config) -> None:
        pass

    def on_connect(self, session: host.Session) -> types.Decision:
        return proceed()

    def on_helo(self, session: host.Session) -> types.Decision:
        return proceed()

    def on_auth(self, session: host.Session) -> types.Decision:
        return proceed()

    def on_mail_from(self, session: host.Session) -> types.Decision:
        return proceed()

    def on_rcpt_to(self, session: host.Session, rcpt: str) -> types.Decision:
        return proceed()

    def on_data(self, session: host.Session, message: host.Message) -> types.Decision:
        return proceed()

    def on_route(self, request: types.RouteRequest) -> Optional[types.Route]:
        return None

    def on_delivery_result(self, outcome: types.DeliveryResult) -> None:
        return None


def export(cls: Type[Plugin]) -> type:
    """The `Hooks` class componentize-py exports, running `cls`'s hooks on its state (made
    once per instance, at the first hook)."""
    implemented = [hook for name, hook in HOOKS if getattr(cls, name) is not getattr(Plugin, name)]
    state: List[Plugin] = []

    def plugin() -> Plugin:
        if not state:
            state.append(cls(Config()))
        return state[0]

    class Hooks(exports.Hooks):
        def init(self) -> None:
            config = Config()
            try:
                made = cls(config)
                config.check_unknown()
            except ConfigError as e:
                raise Err(str(e))
            state[:] = [made]

        def implemented(self) -> List[types.Hook]:
            return implemented

        def on_connect(self, session: host.Session) -> types.Decision:
            return plugin().on_connect(session)

        def on_helo(self, session: host.Session) -> types.Decision:
            return plugin().on_helo(session)

        def on_auth(self, session: host.Session) -> types.Decision:
            return plugin().on_auth(session)

        def on_mail_from(self, session: host.Session) -> types.Decision:
            return plugin().on_mail_from(session)

        def on_rcpt_to(self, session: host.Session, rcpt: str) -> types.Decision:
            return plugin().on_rcpt_to(session, rcpt)

        def on_data(self, session: host.Session, message: host.Message) -> types.Decision:
            return plugin().on_data(session, message)

        def on_route(self, request: types.RouteRequest) -> Optional[types.Route]:
            return plugin().on_route(request)

        def on_delivery_result(self, outcome: types.DeliveryResult) -> None:
            return plugin().on_delivery_result(outcome)

    return Hooks


def log(level: types.Level, message: str) -> None:
    host.log(level, message)


Headers = Iterable[Tuple[str, str]]


def _decision(verdict, headers: Headers, tags: Iterable[str], rule: Optional[str]) -> types.Decision:
    return types.Decision(
        verdict=verdict,
        add_headers=[types.Header(name=n, value=v) for n, v in headers],
        tags=list(tags),
        rule=rule,
    )


def proceed(*, headers: Headers = (), tags: Iterable[str] = (), rule: Optional[str] = None) -> types.Decision:
    """No opinion: the next plugin decides."""
    return _decision(types.Verdict_Continue(), headers, tags, rule)


def accept(*, headers: Headers = (), tags: Iterable[str] = (), rule: Optional[str] = None) -> types.Decision:
    return _decision(types.Verdict_Accept(), headers, tags, rule)


def reject(code: int, enhanced: str, text: str, *, headers: Headers = (), tags: Iterable[str] = (),
           rule: Optional[str] = None) -> types.Decision:
    """A permanent refusal; `code` should be 5xx."""
    reply = types.SmtpReply(code=code, enhanced=enhanced, text=text)
    return _decision(types.Verdict_Reject(reply), headers, tags, rule)


def tempfail(code: int, enhanced: str, text: str, *, headers: Headers = (), tags: Iterable[str] = (),
             rule: Optional[str] = None) -> types.Decision:
    """A temporary refusal; `code` should be 4xx."""
    reply = types.SmtpReply(code=code, enhanced=enhanced, text=text)
    return _decision(types.Verdict_Tempfail(reply), headers, tags, rule)


def quarantine(reason: str, *, headers: Headers = (), tags: Iterable[str] = (),
               rule: Optional[str] = None) -> types.Decision:
    return _decision(types.Verdict_Quarantine(reason), headers, tags, rule)


def discard(*, headers: Headers = (), tags: Iterable[str] = (), rule: Optional[str] = None) -> types.Decision:
    return _decision(types.Verdict_Discard(), headers, tags, rule)
