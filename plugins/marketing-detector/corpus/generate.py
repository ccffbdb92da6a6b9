#!/usr/bin/env python3
"""Writes the labelled corpus of the marketing detector.

    python3 generate.py          # rewrites train/, retired/, heldout/ and labels.csv (deterministic)

Messages are templated (gen/templates.py) from wording written per language (gen/en.py,
de.py, fr.py, es.py, pt.py, ja.py), for fictional organisations (gen/world.py) that each send
through their own platforms (gen/senders.py: Mailchimp-, SendGrid-, HubSpot-, Brevo-,
Klaviyo-, SES-, Postmark-, Mailgun-style, PHPMailer scripts, in-house mailers, forum,
code-hosting, tracker and social notifications, desktop mail clients), rendered as plain text,
HTML or both in several layouts (gen/render.py) and assembled by Python's email package.

The split is by sender: heldout/ holds every message of organisations that send nothing in
train/ or retired/ (world.TEST_BRANDS, TEST_OUTREACH), so the held-out score measures senders
(their platforms, templates and habits) the fit never saw. retired/ is the previous held-out
split (world.RETIRED_BRANDS, RETIRED_OUTREACH): evaluated once, then trained on.
"""

import collections
import csv
import datetime
import email.message
import email.policy
import email.utils
import os
import random
import shutil
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

import de, en, es, fr, ja, pt  # noqa: E402
import render  # noqa: E402
import templates  # noqa: E402
from senders import Platform, notification_headers  # noqa: E402
from world import (LABELS, BRANDS, RETIRED_BRANDS, RETIRED_OUTREACH, TEST_BRANDS, TEST_OUTREACH, CITIES, CURRENCY, FIRST, LAST, MONTHS, OUTREACH_COMPANIES, ROMAJI, STREETS)  # noqa: E402

WORDING = {"en": en.P, "de": de.P, "fr": fr.P, "es": es.P, "pt": pt.P, "ja": ja.P}
OUTREACH_LANG = {"growthlane": "en", "pipelinelabs": "en", "scalewise": "en", "onboardly": "en", "costcutter": "en",
                 "hirely": "en", "vertriebswerk": "de", "kundenglueck": "de", "prospectia": "fr", "croissanceplus": "fr",
                 "ventaspro": "es", "clientesya": "es", "vendemais": "pt", "nuvemcerta": "pt", "salesboost": "ja",
                 "cloudconsul": "ja", "leadforge": "en", "datadrift": "en", "brightfunnel": "en", "auditeo": "fr",
                 "reachly": "en", "nordlicht-consulting": "de", "agenceboost": "fr", "crecedigital": "es"}
MAILBOXES = ["mail.example", "post.test", "inbox.example", "webmail.test", "correo.example", "caixa.example", "posteo.test", "nifty.example"]
N_MESSAGES = 620
HELD_OUT = 0.2


MISSING = collections.Counter()


def ascii_local(s):
    """A mailbox name from a person's name: accents dropped, lower case, letters, digits, dots."""
    s = unicodedata.normalize("NFKD", s.replace("ß", "ss").replace("ı", "i"))
    return "".join(c for c in s.lower() if c.isascii() and (c.isalnum() or c == "."))


class Values(dict):
    """Placeholder values; a placeholder a template forgot to fill is counted, not fatal."""

    def __missing__(self, key):
        MISSING[(key, self.get("_template", "?"))] += 1
        return ""


class Brand:
    def __init__(self, rng, name, domain, lang, kind):
        self.name, self.domain, self.lang, self.kind = name, domain, lang, kind
        self.slug = domain.split(".")[0] if not domain.startswith(("forum.", "community.")) else domain.split(".")[1]
        self.currency = rng.choice(CURRENCY[lang])
        self.address = rng.choice(STREETS[lang]).format(n=rng.randint(1, 200), city=rng.choice(CITIES[lang]))
        tx_platforms = {
            "forum": ["inhouse"], "codehost": ["inhouse"], "social": ["inhouse", "ses"],
            "fintech": ["inhouse", "ses", "postmark", "inhouse"], "saas": ["postmark", "ses", "sendgrid", "mailgun", "inhouse"],
        }.get(kind, ["sendgrid", "ses", "postmark", "mailgun", "inhouse", "klaviyo", "sendgrid"])
        self.tx_platform = rng.choice(tx_platforms)
        self.tx_tracking = rng.random() < (0.5 if self.tx_platform in ("sendgrid", "klaviyo", "mailgun") else 0.2)
        self.tx_pixel = rng.random() < (0.5 if self.tx_platform in ("sendgrid", "klaviyo", "mailgun", "ses") else 0.15)
        self.tx_list_headers = rng.random() < 0.2
        self.mk_platform = rng.choice(["mailchimp", "mailchimp", "sendgrid", "hubspot", "brevo", "klaviyo", "phpmailer",
                                       "phpmailer", "inhouse", "ses", "mailgun"])
        php = self.mk_platform == "phpmailer"
        self.mk_tracking = rng.random() < (0.25 if php else 0.85)
        self.mk_pixel = rng.random() < (0.3 if php else 0.8)
        self.mk_list_headers = rng.random() < (0.1 if php else 0.6 if self.mk_platform == "inhouse" else 0.92)
        self.mk_unsub_link = rng.random() < (0.6 if php else 0.95)
        sub = rng.choice(["", "", "mail.", "email.", "notify.", "em.", "e."])
        self.tx_from = (rng.choice([name, name, f"{name} Support", f"{name} Accounts", f"{name} Team"]),
                        f"{rng.choice(['no-reply', 'noreply', 'notifications', 'hello', 'support', 'team', 'info', 'do-not-reply', 'account', 'service'])}@{sub}{domain}")
        if kind == "forum":
            self.tx_from = (name, f"{rng.choice(['noreply', 'notifications', 'forum'])}@{domain}")
        msub = rng.choice(["", "", "news.", "email.", "mail.", "e.", "m.", "info."])
        self.mk_from = (rng.choice([name, name, f"{name} News", f"The {name} Team" if lang == "en" else name]),
                        f"{rng.choice(['news', 'newsletter', 'hello', 'info', 'marketing', 'offers', 'no-reply', 'team', 'updates', 'hi', 'noreply', 'contact'])}@{msub}{domain}")


class Msg:
    def __init__(self, rng, brand, template, label):
        self.rng, self.brand_obj, self.template, self.label = rng, brand, template, label
        self.lang, self.domain, self.slug = brand.lang, brand.domain, brand.slug
        self.kind_of_brand = brand.kind
        self.brand = brand.name
        self.P = WORDING[self.lang]
        self.L = LABELS[self.lang]
        self.blocks, self.footer, self.attach, self.extra = [], [], [], {}
        self.subject = self.preheader = self.tag = self.hero = self.view_online = self.pixel = None
        self.button_style = None
        self.from_ = None
        self.notify_style = None
        self.platform_name = None
        self.prefer = {"text": 0.25, "alt": 0.5, "html": 0.25} if label == "transactional" else {"text": 0.05, "alt": 0.55, "html": 0.4}
        self.layout_choice = None
        self.account_host = rng.choice([brand.domain, f"accounts.{brand.domain}", f"app.{brand.domain}", f"id.{brand.domain}"])
        self.static_host = rng.choice([f"static.{brand.domain}", f"cdn.{brand.domain}", f"img.{brand.domain}", "images.cdn-mail.example"])
        first, last = rng.choice(FIRST[self.lang]), rng.choice(LAST[self.lang])
        rdomain = rng.choice(MAILBOXES)
        local = f"{ROMAJI.get(first, first)}.{ROMAJI.get(last, last)}" if rng.random() < 0.6 else f"{ROMAJI.get(first, first)}{rng.randint(1, 99)}"
        local = ascii_local(local)
        self.recipient = f"{local}@{rdomain}"
        date = datetime.datetime(2025, 1, 1) + datetime.timedelta(minutes=rng.randint(0, 60 * 24 * 680))
        self.when = date
        month = MONTHS[self.lang][date.month - 1]
        self.v = Values({
            "first": first, "last": last, "email": self.recipient, "brand": brand.name, "address": brand.address,
            "city": rng.choice(CITIES[self.lang]), "date": self.fmt_date(date + datetime.timedelta(days=rng.randint(-3, 20))),
            "time": f"{rng.randint(7, 21):02d}:{rng.choice(['00', '15', '30', '45'])}", "month": f"{month} {date.year}" if self.lang != "ja" else f"{date.year}年{month}",
            "order": self.order_number(), "inv": f"{rng.choice(['INV', 'F', 'RE', 'FA', 'NF'])}-{date.year}-{rng.randint(1, 99999):05d}",
            "tracking": rng.choice([f"1Z{self.tok(6).upper()}{rng.randint(10 ** 9, 10 ** 10)}", f"JD{rng.randint(10 ** 15, 10 ** 16)}",
                                    f"{rng.randint(10 ** 11, 10 ** 12)}", f"LX{rng.randint(10 ** 8, 10 ** 9)}PT"]),
            "ref": rng.choice([self.tok(6).upper(), f"{rng.randint(10 ** 5, 10 ** 7)}", f"BK-{rng.randint(1000, 99999)}"]),
            "amount": self.money(rng.uniform(5, 500)), "recipient_domain": rdomain,
        })
        self.v["email"] = self.recipient
        self.v["_template"] = template
        self.unsub_link = None
        self.platform = None

    # -- helpers used by the templates
    def t(self, key):
        return self.rng.choice(self.P[key]).format_map(self.v)

    def tok(self, n):
        return "".join(self.rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(n))

    def fmt_date(self, d):
        if self.lang == "en":
            return d.strftime(self.rng.choice(["%B %d, %Y", "%d %b %Y", "%m/%d/%Y", "%a, %b %d"]))
        if self.lang == "ja":
            return f"{d.year}年{d.month}月{d.day}日"
        return self.rng.choice([f"{d.day:02d}.{d.month:02d}.{d.year}" if self.lang == "de" else f"{d.day:02d}/{d.month:02d}/{d.year}",
                                f"{d.day} {MONTHS[self.lang][d.month - 1]} {d.year}" if self.lang != "de" else f"{d.day}. {MONTHS['de'][d.month - 1]} {d.year}"])

    def money(self, x):
        whole, cents = int(x), int(round((x - int(x)) * 100)) % 100
        if self.lang == "ja":
            return self.brand_obj.currency.format(f"{int(x * 100):,}")
        if self.lang == "en":
            s = f"{whole:,}.{cents:02d}"
        else:
            s = f"{whole:,}".replace(",", ".") + f",{cents:02d}"
        return self.brand_obj.currency.format(s)

    def order_number(self):
        r = self.rng
        return r.choice([f"{r.randint(10 ** 5, 10 ** 7)}", f"{r.randint(100, 999)}-{r.randint(10 ** 6, 10 ** 7)}-{r.randint(10 ** 6, 10 ** 7)}",
                         f"{self.tok(2).upper()}{r.randint(10 ** 5, 10 ** 6)}", f"W{r.randint(10 ** 8, 10 ** 9)}"])

    def promo(self):
        return self.rng.choice(["SAVE", "WELCOME", "HELLO", "VIP", "SUMMER", "EXTRA", "BF"]) + str(self.rng.choice([10, 15, 20, 25, 30]))

    def person(self):
        first, last = self.rng.choice(FIRST[self.lang]), self.rng.choice(LAST[self.lang])
        local = f"{ROMAJI.get(first, first)}.{ROMAJI.get(last, last)}" if self.rng.random() < 0.5 else ROMAJI.get(first, first)
        local = ascii_local(local)
        name = f"{last} {first}" if self.lang == "ja" else f"{first} {last}"
        return name, local

    def username(self, full=False):
        first, last = self.rng.choice(FIRST[self.lang]), self.rng.choice(LAST[self.lang])
        if full:
            return f"{last} {first}" if self.lang == "ja" else f"{first} {last}"
        return self.rng.choice([ROMAJI.get(first, first), f"{ROMAJI.get(first, first)}_{self.rng.randint(1, 99)}", ROMAJI.get(last, last)]).lower()

    def phone(self):
        return self.rng.choice([f"+1 415 {self.rng.randint(100, 999)} {self.rng.randint(1000, 9999)}",
                                f"+49 30 {self.rng.randint(1000, 9999)} {self.rng.randint(100, 999)}",
                                f"+33 1 {self.rng.randint(10, 99)} {self.rng.randint(10, 99)} {self.rng.randint(10, 99)} {self.rng.randint(10, 99)}",
                                f"+55 11 9{self.rng.randint(1000, 9999)}-{self.rng.randint(1000, 9999)}",
                                f"03-{self.rng.randint(1000, 9999)}-{self.rng.randint(1000, 9999)}"])

    def slug_carrier(self):
        return "".join(c for c in self.v.get("carrier", "carrier").lower() if c.isalnum()) or "carrier"

    def image(self, path):
        return f"https://{self.static_host}{path}"

    def link(self, path, host=None, utm=None, track=True):
        url = f"https://{host or self.rng.choice([self.domain, 'www.' + self.domain])}{path}"
        if utm is None:
            utm = self.label == "transactional" and self.rng.random() < 0.1
        if utm and self.rng.random() < 0.65:
            sep = "&" if "?" in url else "?"
            medium = "email"
            campaign = self.rng.choice(["weekly", "spring_sale", "launch", "nurture", "bf2025", "txn", "winback"])
            url += f"{sep}utm_source={self.rng.choice(['newsletter', 'email', 'crm', 'transactional'])}&utm_medium={medium}&utm_campaign={campaign}"
        if track and self.platform is not None:
            return self.platform.wrap(url)
        return url


def choose_platform(rng, m):
    b = m.brand_obj
    if m.template == "optin":
        # A subscription confirmation leaves through the newsletter's platform and address.
        m.from_ = b.mk_from
        return Platform(b.mk_platform, rng, b.domain, b.slug, b.mk_tracking, b.mk_pixel, rng.random() < 0.3)
    if m.template in ("outreach", "followup"):
        name = m.platform_name
        return Platform(name, rng, b.domain, b.slug, track_clicks=name == "outreach" and rng.random() < 0.7,
                        open_pixel=name == "outreach" and rng.random() < 0.8, list_headers=name == "outreach" and rng.random() < 0.25)
    if m.label == "marketing":
        return Platform(b.mk_platform, rng, b.domain, b.slug, b.mk_tracking, b.mk_pixel, b.mk_list_headers)
    if b.kind in ("forum", "codehost", "social"):
        return Platform("inhouse", rng, b.domain, b.slug, False, False, False)
    return Platform(b.tx_platform, rng, b.domain, b.slug, b.tx_tracking, b.tx_pixel, b.tx_list_headers)


def build(rng, brand, template, label):
    m = Msg(rng, brand, template, label)
    if template in ("outreach", "followup"):
        # Typed in a mailbox by a person, or sent by a sequencing tool through one.
        m.platform_name = rng.choice(["gmail", "outlook", "apple", "thunderbird", "outreach", "outreach", "gmail"])
    m.platform = choose_platform(rng, m)
    if label == "marketing" and template not in ("outreach", "followup") and brand.mk_unsub_link:
        # Platforms keep their unsubscribe links recognisable (most do not click-track them).
        m.unsub_link = m.link(rng.choice([f"/unsubscribe?e={m.tok(16)}", f"/unsubscribe/{m.tok(24)}", f"/u/{m.tok(20)}",
                                          f"/email/optout?id={m.tok(12)}", f"/lists/unsubscribe?u={m.tok(10)}"]),
                              host=m.platform.unsub_host() if m.platform.list_headers else None, track=rng.random() < 0.2)
    getattr(templates, template)(m)
    if m.pixel is None and not (label == "transactional" and m.kind_of_brand in ("forum", "codehost", "social")):
        m.pixel = m.platform.pixel()
    if m.preheader is None and label == "transactional" and m.blocks and rng.random() < 0.3:
        # Many transactional templates carry a hidden preheader too.
        m.preheader = next((b[1] for b in m.blocks if b[0] == "p"), None)
    return m


def structure(rng, m):
    r, acc = rng.random(), 0
    for k in ("text", "alt", "html"):
        acc += m.prefer.get(k, 0)
        if r < acc:
            return k
    return "alt"


def mime(rng, m):
    st = structure(rng, m)
    layout = rng.choice(m.layout_choice) if m.layout_choice else (
        rng.choice(["simple", "table", "table", "table", "rich"]) if m.label == "transactional" else rng.choice(["table", "rich", "rich", "simple"]))
    if m.platform.name in ("gmail", "outlook", "apple", "thunderbird", "outreach"):
        layout = "simple"
    if m.platform.name == "phpmailer":
        layout = rng.choice(["table", "simple", "rich"])
    c = Content(m)
    text = render.text_body(rng, c)
    html = render.html_body(rng, c, layout) if st != "text" else None
    if m.platform.name == "gmail" and html:
        html = '<div dir="ltr">' + render.esc(text).replace("\n", "<br>") + "</div>\n"

    msg = email.message.EmailMessage()
    name, addr = m.from_ or (m.brand_obj.mk_from if m.label == "marketing" else m.brand_obj.tx_from)
    msg["From"] = email.utils.formataddr((name, addr))
    to_name = f"{m.v['first']} {m.v['last']}" if rng.random() < 0.6 else ""
    msg["To"] = email.utils.formataddr((to_name, m.recipient)) if to_name else m.recipient
    msg["Subject"] = m.subject
    tz = {"en": -5, "de": 1, "fr": 1, "es": 1, "pt": -3, "ja": 9}[m.lang] if rng.random() < 0.7 else 0
    msg["Date"] = email.utils.format_datetime(m.when.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=tz))))
    msg["Message-ID"] = m.platform.message_id(addr.split("@")[1])
    msg["MIME-Version"] = "1.0"
    if rng.random() < 0.15 and m.template not in ("outreach", "followup"):
        msg["Reply-To"] = email.utils.formataddr((m.brand, f"{rng.choice(['support', 'help', 'reply', 'care'])}@{m.domain}"))
    if "in_reply_to" in m.extra:
        msg["In-Reply-To"] = m.extra["in_reply_to"]
        msg["References"] = m.extra["in_reply_to"]
    for k, v in m.platform.headers(m):
        msg[k] = v
    if m.notify_style:
        for k, v in notification_headers(rng, m.notify_style, m, m.extra.get("thread", rng.randint(100, 9999))):
            if k not in msg:
                msg[k] = v
    if m.label == "transactional" and m.notify_style is None and rng.random() < 0.15:
        msg["Auto-Submitted"] = "auto-generated"
    if m.label == "transactional" and rng.random() < 0.1:
        msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    if rng.random() < 0.05:
        msg["X-Priority"] = "3"

    charset = "iso-2022-jp" if m.lang == "ja" and st == "text" and rng.random() < 0.4 else "utf-8"
    if charset != "utf-8":
        try:
            text.encode("iso2022_jp")
        except UnicodeEncodeError:
            charset = "utf-8"
    cte = rng.choice(["quoted-printable", "quoted-printable", "base64", "8bit"]) if charset == "utf-8" else None
    if cte == "8bit" and any(len(line) > 900 for line in (text + (html or "")).split("\n")):
        cte = "quoted-printable"
    kw = {"cte": cte} if cte else {}
    if st == "text":
        msg.set_content(text, charset=charset, **kw)
    elif st == "html":
        msg.set_content(html, subtype="html", charset="utf-8", **kw)
    else:
        msg.set_content(text, charset="utf-8", **kw)
        msg.add_alternative(html, subtype="html", charset="utf-8", **kw)
    for fname, ctype, data in m.attach:
        maintype, subtype = ctype.split("/")
        if maintype == "text":
            msg.add_attachment(data.decode(), subtype=subtype, filename=fname)
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=fname)
    return msg.as_bytes(policy=email.policy.SMTP)


class Content:
    """What render.py needs of a message."""

    def __init__(self, m):
        self.blocks, self.footer = m.blocks, m.footer
        self.subject, self.preheader, self.hero, self.view_online = m.subject, m.preheader, m.hero, m.view_online
        self.pixel, self.button_style, self.brand, self.domain, self.lang = m.pixel, m.button_style, m.brand, m.domain, m.lang
        self.static_host = m.static_host


def eligible(kinds, brands, template):
    keys = templates.KEYS[template]
    return [b for b in brands if (kinds is None or b.kind in kinds) and all(k in WORDING[b.lang] for k in keys)]


def main():
    random.seed(1)  # the email package draws MIME boundaries from the global generator
    rng = random.Random(20260516)
    brands = [Brand(rng, *b) for b in BRANDS]
    for name, domain in OUTREACH_COMPANIES:
        slug = domain.split(".")[0]
        brands.append(Brand(rng, name, domain, OUTREACH_LANG[slug], "outreach"))
    plan = [(t, "transactional", w, k) for t, (w, k) in templates.TRANSACTIONAL.items()]
    plan += [(t, "marketing", w, k) for t, (w, k) in templates.MARKETING.items()]
    weights = [p[2] for p in plan]
    messages = []
    while len(messages) < N_MESSAGES:
        template, label, _w, kinds = rng.choices(plan, weights)[0]
        candidates = eligible(kinds, brands, template)
        if not candidates:
            continue
        brand = rng.choice(candidates)
        m = build(rng, brand, template, label)
        messages.append((m, mime(rng, m)))

    # Held-out splits: other senders, each set with a generator of its own so the messages
    # above stay the same whatever is held out. The previous split (retired/, trained on
    # since it was evaluated) first, then the current one (heldout/).
    n_test = round(N_MESSAGES * HELD_OUT / (1 - HELD_OUT))
    split_of = {}
    for split, seed, orgs, outreach in (("retired", 20261207, RETIRED_BRANDS, RETIRED_OUTREACH),
                                        ("heldout", 20261208, TEST_BRANDS, TEST_OUTREACH)):
        test_rng = random.Random(seed)
        test_brands = [Brand(test_rng, *b) for b in orgs]
        test_brands += [Brand(test_rng, name, domain, lang, "outreach") for name, domain, lang in outreach]
        split_of.update((b.domain, split) for b in test_brands)
        tested = []
        while len(tested) < n_test:
            template, label, _w, kinds = test_rng.choices(plan, weights)[0]
            candidates = eligible(kinds, test_brands, template)
            if not candidates:
                continue
            m = build(test_rng, test_rng.choice(candidates), template, label)
            tested.append((m, mime(test_rng, m)))
        messages += tested

    for sub in ("train", "retired", "heldout"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
        os.makedirs(os.path.join(HERE, sub))
    rows = []
    seq = collections.Counter()
    for m, raw in messages:
        split = split_of.get(m.domain, "train")
        seq[(m.template, m.lang)] += 1
        name = f"{m.template}-{m.lang}-{seq[(m.template, m.lang)]:02d}.eml"
        with open(os.path.join(HERE, split, name), "wb") as f:
            f.write(raw)
        rows.append((f"{split}/{name}", m.label))
    rows.sort()
    with open(os.path.join(HERE, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "label"])
        w.writerows(rows)
    summary = collections.Counter((r[0].split("/")[0], r[1]) for r in rows)
    langs = collections.Counter((r[0].split("/")[0], r[0].split("-")[1]) for r in rows)
    print(f"{len(rows)} messages: {dict(summary)}")
    print(f"languages: {dict(sorted(langs.items()))}")
    print(f"held-out senders: {', '.join(sorted(d for d, s in split_of.items() if s == 'heldout'))}")
    if MISSING:
        print(f"placeholders left empty: {dict(MISSING)}")


if __name__ == "__main__":
    main()
