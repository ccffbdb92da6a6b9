"""keyword-policy: a Sluice plugin in Python, built with componentize-py against wit/.

Rejects a message whose subject or text body contains one of the configured keywords
(config `keywords`, comma-separated, case-insensitive) and says which one; otherwise adds
an `X-Keyword-Policy: clean` header and the tag `keywords-checked`.
"""
from typing import List, Optional

from wit_world import exports
from wit_world.imports import host, types


def proceed() -> types.Decision:
    return types.Decision(verdict=types.Verdict_Continue(), add_headers=[], tags=[], rule=None)


class Hooks(exports.Hooks):
    def implemented(self) -> List[types.Hook]:
        return [types.Hook.DATA]

    def on_data(self, session: host.Session, message: host.Message) -> types.Decision:
        keywords = [k.strip().lower() for k in (host.config("keywords") or "").split(",") if k.strip()]
        text = ((message.subject() or "") + "\n" + (message.text_body() or "")).lower()
        for k in keywords:
            if k in text:
                reply = types.SmtpReply(code=550, enhanced="5.7.1", text=f"message mentions {k!r}")
                return types.Decision(verdict=types.Verdict_Reject(reply), add_headers=[], tags=[], rule="keyword")
        return types.Decision(
            verdict=types.Verdict_Continue(),
            add_headers=[types.Header(name="X-Keyword-Policy", value="clean")],
            tags=["keywords-checked"],
            rule=None,
        )

    # Hooks not listed in implemented() are never called; they answer "continue" anyway.
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

    def on_route(self, request: types.RouteRequest) -> Optional[types.Route]:
        return None

    def on_delivery_result(self, outcome: types.DeliveryResult) -> None:
        return None
