"""keyword-policy: a Sluice plugin in Python, built with componentize-py against wit/.

Rejects a message whose subject or text body contains one of the configured keywords
(config `keywords`, comma-separated, case-insensitive) and says which one; otherwise adds
an `X-Keyword-Policy: clean` header and the tag `keywords-checked`.
"""
from sluice_plugin import Plugin, export, proceed, reject


class KeywordPolicy(Plugin):
    def __init__(self, config):
        self.keywords = [k.lower() for k in config.list("keywords")]

    def on_data(self, session, message):
        text = ((message.subject() or "") + "\n" + (message.text_body() or "")).lower()
        for k in self.keywords:
            if k in text:
                return reject(550, "5.7.1", f"message mentions {k!r}", rule="keyword")
        return proceed(headers=[("X-Keyword-Policy", "clean")], tags=["keywords-checked"])


Hooks = export(KeywordPolicy)
