"""What each kind of message says and links to. A template fills a `Msg` (blocks of content,
footer, attachments, extra headers); render.py and generate.py turn it into MIME.

Transactional: mail a user's own action or account caused, and notifications they get about
their own activity (forum replies, code review mentions, social notifications, tracker and
monitoring alerts) — sent one to one even when they carry list headers.
Marketing: mail sent to promote (newsletters, sales, launches, webinars, cart reminders,
win-back, loyalty, referral, upsell) and cold outreach, templated or typed by a person."""

from world import (LABELS, WROTE, CARDS, CARRIERS, CONCERTS, DEVICES, DOCS, EVENTS, FORUM_TOPICS, HOSTS, PLACES, PLAN_PRODUCTS,
                   PRODUCTS, REF_COMPANIES, REPOS, ROLES, TARGET_COMPANIES, TASKS, TOPICS)


def greet(m):
    if m.rng.random() < 0.85:
        m.blocks.append(("greet", m.t("greet")))


def sign(m):
    if m.rng.random() < 0.7:
        m.blocks.append(("sig", m.t("signoff")))


def tx_footer(m, settings=False):
    for text in m.rng.sample(m.P["tx_footer"], m.rng.choice([1, 1, 2])):
        m.footer.append(("p", text.format_map(m.v)))
    if settings or m.rng.random() < 0.25:
        m.footer.append(("link", m.t("notif_settings"), m.link(m.rng.choice(
            ["/settings/notifications", "/account/notifications", "/settings/email", "/preferences", "/account/email-preferences"]))))
    if m.rng.random() < 0.12:
        # Some platforms put an unsubscribe link (for marketing mail) under receipts too.
        m.footer.append(("unsub", m.t("unsub"), m.link(f"/email/unsubscribe?t={m.tok(20)}")))
    if m.kind_of_brand in ("shop", "food", "travel") and m.rng.random() < 0.2:
        m.footer.append(("social", social_links(m)))


def social_links(m):
    nets = [("facebook", "https://facebook.example/"), ("instagram", "https://instagram.example/"),
            ("x", "https://x.example/"), ("linkedin", "https://linkedin.example/company/"),
            ("youtube", "https://youtube.example/@"), ("tiktok", "https://tiktok.example/@")]
    m.rng.shuffle(nets)
    return [(n, u + m.slug) for n, u in nets[: m.rng.randint(2, 5)]]


def mk_footer(m):
    if m.rng.random() < 0.6:
        m.footer.append(("social", social_links(m)))
    m.footer.append(("p", m.t("why")))
    if m.rng.random() < 0.8:
        m.footer.append(("p", f"{m.v['brand']} · {m.v['address']}"))
    if m.unsub_link:
        m.footer.append(("unsub", m.t("unsub"), m.unsub_link))
    if m.rng.random() < 0.35:
        m.footer.append(("link", m.t("notif_settings"), m.link(m.rng.choice(
            [f"/preferences?e={m.tok(12)}", "/account/settings/email", f"/settings/notifications?u={m.tok(8)}",
             f"/manage-subscription/{m.tok(16)}", f"/profile?u={m.tok(10)}&id={m.tok(8)}"]))))
    if m.rng.random() < 0.5:
        m.view_online = (m.t("view_browser"), m.link(f"/campaigns/{m.tok(10)}", track=False))


def money(m, lo=5, hi=400):
    return m.money(m.rng.uniform(lo, hi))


# ================================================================ transactional

def reset(m):
    m.v["n"] = m.rng.choice([15, 30, 60, 2, 24])
    m.subject = m.t("reset_subj")
    greet(m)
    m.blocks.append(("p", m.t("reset_body")))
    m.blocks.append(("btn", m.t("reset_btn"), m.link(f"/reset-password?token={m.tok(m.rng.randint(24, 64))}", utm=False, host=m.account_host)))
    m.blocks.append(("p", m.t("reset_expiry")))
    m.blocks.append(("p", m.t("reset_ignore")))
    sign(m)
    tx_footer(m)
    m.tag = "password-reset"


def otp(m):
    code = "".join(m.rng.choice("0123456789") for _ in range(m.rng.choice([6, 6, 6, 8, 4])))
    m.v["code"], m.v["n"] = code, m.rng.choice([5, 10, 15])
    m.subject = m.t("otp_subj")
    greet(m)
    m.blocks.append(("p", m.t("otp_body")))
    m.blocks.append(("code", code if m.rng.random() < 0.7 else f"{code[:3]} {code[3:]}"))
    m.blocks.append(("p", m.t("otp_warn")))
    if m.rng.random() < 0.3:
        m.blocks.append(("kv", [("IP", f"203.0.113.{m.rng.randint(1, 254)}"), (m.L["device"], m.rng.choice(DEVICES))]))
    sign(m)
    tx_footer(m)
    m.tag = "otp"
    m.prefer = {"text": 0.45, "alt": 0.35, "html": 0.2}


def verify(m):
    m.subject = m.t("verify_subj")
    greet(m)
    m.blocks.append(("p", m.t("verify_body")))
    m.blocks.append(("btn", m.t("verify_btn"), m.link(f"/verify?t={m.tok(40)}", host=m.account_host)))
    if m.rng.random() < 0.4:
        m.blocks.append(("p", m.t("reset_ignore")))
    sign(m)
    tx_footer(m)
    m.tag = "verify"


def magic(m):
    m.v["n"] = m.rng.choice([10, 15, 20])
    m.v["device"] = m.rng.choice(DEVICES)
    m.subject = m.t("magic_subj")
    greet(m)
    m.blocks.append(("p", m.t("magic_body")))
    m.blocks.append(("btn", m.t("magic_btn"), m.link(f"/auth/magic/{m.tok(48)}", host=m.account_host)))
    m.blocks.append(("p", m.t("reset_ignore")))
    tx_footer(m)


def alert(m):
    m.v.update(device=m.rng.choice(DEVICES))
    m.subject = m.t("alert_subj")
    greet(m)
    m.blocks.append(("p", m.t("alert_body")))
    if m.rng.random() < 0.5:
        m.blocks.append(("kv", [(m.L["device"], m.v["device"]), (m.L["location"], m.v["city"]), ("IP", f"198.51.100.{m.rng.randint(1, 254)}"),
                                (m.L["date"], f"{m.v['date']} {m.v['time']}")]))
    m.blocks.append(("p", m.t("alert_ok")))
    m.blocks.append(("btn", m.t("alert_btn"), m.link(f"/security/activity?s={m.tok(16)}", host=m.account_host)))
    sign(m)
    tx_footer(m)
    m.tag = "security"


def line_items(m, kind="shop", images=True, k=None):
    names = PRODUCTS.get(kind, PRODUCTS["shop"])[m.lang]
    items = []
    for name in m.rng.sample(names, k or m.rng.randint(1, min(4, len(names)))):
        qty = m.rng.choice([1, 1, 1, 2, 3])
        img = m.image(f"/products/{m.rng.randint(1000, 99999)}_{m.rng.choice(['200', '400x400', 'thumb'])}.jpg") if images else None
        items.append((name, round(m.rng.uniform(4, 180), 2), img, qty if m.rng.random() < 0.7 else None))
    return items


def receipt(m):
    kind = "food" if m.kind_of_brand == "food" else "shop"
    m.v["pct"] = m.rng.choice([19, 20, 21, 10, 8, 7, 23])
    m.v["card"], m.v["last4"] = m.rng.choice(CARDS), f"{m.rng.randint(0, 9999):04d}"
    m.subject = m.t("receipt_subj")
    if m.rng.random() < 0.3:
        m.blocks.append(("img", m.image("/email/receipt-header.png"), m.v["brand"], 600, 120))
    greet(m)
    m.blocks.append(("p", m.t("receipt_intro")))
    m.blocks.append(("kv", [(m.L["order"], m.v["order"]), (m.L["date"], m.v["date"])]))
    items = line_items(m, kind, images=m.rng.random() < 0.6)
    m.blocks.append(("items", [(n, m.money(p * (q or 1)), img, q) for n, p, img, q in items]))
    subtotal = sum(p * (q or 1) for _n, p, _img, q in items)
    shipping = m.rng.choice([0, 0, 3.9, 4.99, 6.5]) if m.rng.random() < 0.6 else 0
    rows = []
    if m.rng.random() < 0.6:
        rows.append((m.t("receipt_sub"), m.money(subtotal)))
    if shipping or m.rng.random() < 0.3:
        rows.append((m.t("receipt_ship"), m.money(shipping)))
    if m.rng.random() < 0.6:
        rows.append((m.t("receipt_tax"), m.money(subtotal * m.v["pct"] / (100 + m.v["pct"]))))
    rows.append((m.t("receipt_total"), m.money(subtotal + shipping)))
    m.blocks.append(("kv", rows))
    m.blocks.append(("p", m.t("receipt_paid")))
    m.blocks.append(("btn", m.t("receipt_btn"), m.link(f"/orders/{m.v['order']}?k={m.tok(10)}")))
    if m.rng.random() < 0.3:
        m.blocks.append(("hr",))
        m.blocks.append(("p", m.t("receipt_promo")))
        if m.rng.random() < 0.5:
            m.blocks.append(("img", m.image(f"/banners/{m.tok(6)}.jpg"), "", 600, 200))
    sign(m)
    tx_footer(m)
    m.tag = "receipt"
    m.prefer = {"text": 0.1, "alt": 0.5, "html": 0.4}


def pdf(m, name):
    body = (f"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n% {m.v['brand']} {name}\n"
            f"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    return (name, "application/pdf", body.encode())


def invoice(m):
    m.v["amount"] = money(m, 9, 2000)
    m.subject = m.t("invoice_subj")
    greet(m)
    m.blocks.append(("p", m.t("invoice_body")))
    m.blocks.append(("kv", [(m.L["invoice"], m.v["inv"]), (m.L["amount"], m.v["amount"]), (m.L["period"], m.v["month"])]))
    m.blocks.append(("p", m.t("invoice_due")))
    if m.rng.random() < 0.6:
        m.attach.append(pdf(m, f"{m.v['inv']}.pdf"))
    if m.rng.random() < 0.25:
        # A small business's invoice, sent by its bookkeeper from their own mailbox.
        p = m.person()
        m.from_ = (p[0], f"{p[1]}@{m.domain}")
        m.blocks.append(("sig", p[0]))
    if m.rng.random() < 0.7:
        m.blocks.append(("btn", m.rng.choice(["View invoice", "Download PDF", m.t("receipt_btn")]), m.link(f"/billing/invoices/{m.v['inv']}")))
    sign(m)
    tx_footer(m)
    m.tag = "invoice"


def ship(m):
    m.v["carrier"] = m.rng.choice(CARRIERS[m.lang])
    m.subject = m.t("ship_subj")
    greet(m)
    m.blocks.append(("p", m.t("ship_body")))
    m.blocks.append(("items", [(n, m.money(p), img, q) for n, p, img, q in line_items(m, images=m.rng.random() < 0.75)]))
    m.blocks.append(("btn", m.t("ship_btn"), m.link(f"/track/{m.v['tracking']}", host=f"tracking.{m.domain}")))
    if m.rng.random() < 0.5:
        m.blocks.append(("link", m.v["carrier"], f"https://www.{m.slug_carrier()}.example/track?n={m.v['tracking']}"))
    if m.rng.random() < 0.25:
        m.blocks.append(("p", m.t("receipt_promo")))
    sign(m)
    tx_footer(m)
    m.tag = "shipping"
    m.prefer = {"text": 0.1, "alt": 0.5, "html": 0.4}


def delivered(m):
    m.subject = m.t("delivered_subj")
    greet(m)
    m.blocks.append(("p", m.t("delivered_body")))
    if m.rng.random() < 0.5:
        m.blocks.append(("img", m.image(f"/delivery-photos/{m.tok(12)}.jpg"), "Photo", 300, 200))
    m.blocks.append(("link", m.t("ship_btn"), m.link(f"/orders/{m.v['order']}")))
    tx_footer(m)
    m.tag = "shipping"


def optin(m):
    m.subject = m.t("optin_subj")
    greet(m)
    m.blocks.append(("p", m.t("optin_body")))
    m.blocks.append(("btn", m.t("optin_btn"), m.link(f"/subscribe/confirm?t={m.tok(32)}", track=False)))
    m.blocks.append(("p", m.t("reset_ignore")))
    tx_footer(m)
    m.tag = "double-opt-in"


def forum(m):
    m.v["user"] = m.username()
    m.v["topic"] = m.rng.choice(FORUM_TOPICS)
    m.v["n"] = f"{m.rng.randint(1, 4)}.{m.rng.randint(0, 12)}"
    tid = m.rng.randint(1000, 99999)
    m.subject = m.t("forum_subj")
    if m.rng.random() < 0.6:
        m.blocks.append(("img", f"https://{m.domain}/user_avatar/{m.v['user'].lower()}/45/{m.rng.randint(100, 999)}_2.png", m.v["user"], 45, 45))
    m.blocks.append(("p", m.t("forum_body")))
    m.blocks.append(("quote", m.t("forum_quote")))
    m.blocks.append(("link", m.rng.choice(["Visit Topic", "View the post", m.v["topic"]]), m.link(f"/t/{tid}/{m.rng.randint(2, 40)}", track=False)))
    m.footer.append(("p", m.t("forum_footer")))
    m.footer.append(("unsub", m.t("unsub") if m.rng.random() < 0.5 else "Unsubscribe", m.link(f"/email/unsubscribe/{m.tok(32)}", track=False)))
    m.notify_style = "discourse"
    m.extra["thread"] = tid
    m.prefer = {"text": 0.3, "alt": 0.6, "html": 0.1}
    m.layout_choice = ["simple"]


def code(m):
    repo = m.rng.choice(REPOS)
    n = m.rng.randint(10, 9000)
    login = m.username().lower()
    m.v.update(repo=repo, n=f"v{m.rng.randint(1, 5)}.{m.rng.randint(0, 30)}", first=m.v["first"])
    m.extra.update(repo=repo, n=n, user_login=login)
    title = m.rng.choice(["Fix panic on empty config", "Add retry to uploader", "Crash when path has spaces",
                          "Bump dependencies", "Support ARM64 builds", "Flaky test in scheduler"])
    m.subject = m.rng.choice([f"Re: [{repo}] {title} (#{n})", f"[{repo}] {title} (Issue #{n})", f"Re: [{repo}] {title} (PR #{n})"])
    m.blocks.append(("p", m.t("code_quote")))
    if m.rng.random() < 0.3:
        m.blocks.append(("quote", "```\nerror[E0308]: mismatched types\n  --> src/main.rs:42:17\n```"))
    m.blocks.append(("p", f"—\n{m.rng.choice(['Reply to this email directly', f'Reply to this email directly, view it on {m.brand}, or unsubscribe.'])}"))
    m.blocks.append(("link", f"view it on {m.brand}", f"https://{m.domain}/{repo}/issues/{n}#issuecomment-{m.rng.randint(10 ** 8, 10 ** 9)}"))
    m.footer.append(("unsub", "unsubscribe", f"https://{m.domain}/notifications/unsubscribe-auth/{m.tok(40)}"))
    m.footer.append(("p", "You are receiving this because you were mentioned." if m.rng.random() < 0.5 else "You are receiving this because you authored the thread."))
    if m.rng.random() < 0.5:
        m.pixel = f'<img src="https://{m.domain}/notifications/beacon/{m.tok(60)}.gif" height="1" width="1" alt="" />'
    m.notify_style = m.rng.choice(["github", "github", "gitlab"])
    m.from_ = (f"{login}", f"notifications@{m.domain}")
    m.prefer = {"text": 0.2, "alt": 0.8, "html": 0.0}
    m.layout_choice = ["simple"]


def social(m):
    m.v["user"] = m.username(full=True)
    m.v["n"] = m.rng.randint(2, 30)
    m.v["quote"] = m.t("social_quote")
    m.subject = m.t("social_subj")
    m.blocks.append(("img", f"https://cdn.{m.domain}/avatars/{m.rng.randint(10 ** 6, 10 ** 7)}_s.jpg", m.v["user"], 56, 56))
    m.blocks.append(("p", m.t("social_body")))
    m.blocks.append(("btn", m.t("social_btn"), m.link(f"/n/?id={m.tok(14)}&aref={m.rng.randint(10 ** 8, 10 ** 9)}")))
    if m.rng.random() < 0.5:
        # "People you may know" and other suggestions under the notification.
        for _ in range(m.rng.randint(2, 4)):
            m.blocks.append(("img", f"https://cdn.{m.domain}/avatars/{m.rng.randint(10 ** 6, 10 ** 7)}_s.jpg", "", 40, 40))
            m.blocks.append(("link", m.username(full=True), m.link(f"/profile/{m.rng.randint(10 ** 5, 10 ** 6)}")))
    m.footer.append(("p", m.t("tx_footer")))
    m.footer.append(("unsub", m.t("unsub"), m.link(f"/settings/email/unsubscribe?n={m.tok(24)}")))
    if m.rng.random() < 0.5:
        m.footer.append(("social", social_links(m)))
    if m.rng.random() < 0.5:
        m.pixel = f'<img src="https://www.{m.domain}/email_open_log_pic.php?mid={m.tok(20)}" width="1" height="1" style="border:0">'
    m.notify_style = "social"
    m.extra["ntype"] = "comment"
    m.prefer = {"text": 0.05, "alt": 0.6, "html": 0.35}


def saas(m):
    m.v.update(user=m.username(full=True), task=m.rng.choice(TASKS), project=m.rng.choice(["Website", "Ops", "Q3 Launch", "Finance"]),
               repo=m.rng.choice(REPOS), n=m.rng.randint(2, 900), host=m.rng.choice(HOSTS), pct=m.rng.choice([80, 85, 90, 95, 99]),
               doc=m.rng.choice(DOCS), team=m.rng.choice(["Design", "Platform", "Growth", "Support"]))
    m.v["quote"] = m.t("forum_quote")
    which = m.rng.choice(["assign", "comment", "build", "alert", "share", "digest"])
    m.subject = m.t(f"saas_{which}_subj")
    body_index = {"assign": 0, "comment": 1, "build": 2, "alert": 3, "share": 4, "digest": 5}[which]
    variants = m.P["saas_body"]
    m.blocks.append(("p", variants[min(body_index, len(variants) - 1)].format_map(m.v)))
    if which == "digest":
        for _ in range(m.rng.randint(2, 5)):
            m.blocks.append(("img", f"https://avatars.{m.domain}/{m.tok(8)}-48.png", "", 32, 32))
            m.blocks.append(("p", f"{m.username(full=True)}: {m.t('social_quote')}"))
    if which == "alert":
        m.blocks.append(("kv", [("Host", m.v["host"]), ("Metric", "cpu.usage"), ("Value", f"{m.v['pct']}%"), ("Threshold", "80%")]))
    m.blocks.append(("btn", m.t("saas_btn"), m.link(f"/{which}/{m.tok(10)}", track=m.rng.random() < 0.3)))
    m.footer.append(("link", m.t("notif_settings"), m.link("/settings/notifications", track=False)))
    if m.rng.random() < 0.4:
        m.footer.append(("unsub", m.t("unsub"), m.link(f"/notifications/unsubscribe/{m.tok(20)}", track=False)))
    m.footer.append(("p", m.t("tx_footer")))
    m.notify_style = {"assign": "jira", "comment": "asana", "build": "ci", "alert": "monitor", "share": None, "digest": "asana"}[which]
    if which in ("build",):
        m.extra["repo"] = m.v["repo"]
    m.prefer = {"text": 0.3, "alt": 0.5, "html": 0.2}


def booking(m):
    m.v["place"] = m.rng.choice(PLACES[m.lang])
    m.subject = m.t("booking_subj")
    greet(m)
    m.blocks.append(("p", m.t("booking_body")))
    m.blocks.append(("kv", [(m.L["ref"], m.v["ref"]), (m.L["date"], m.v["date"]), (m.L["time"], m.v["time"])]))
    if m.rng.random() < 0.4:
        m.blocks.append(("img", f"https://maps.{m.domain}/static?center={m.rng.uniform(-60, 60):.4f},{m.rng.uniform(-120, 120):.4f}&zoom=15&size=600x200", "Map", 600, 200))
    m.blocks.append(("btn", m.t("booking_btn"), m.link(f"/bookings/{m.v['ref']}?k={m.tok(12)}")))
    if m.rng.random() < 0.2:
        # A practice's or a small hotel's front desk, writing from a person's mailbox.
        p = m.person()
        m.from_ = (f"{p[0]}", f"{p[1]}@{m.domain}")
    if m.rng.random() < 0.5:
        ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//" + m.slug + "//EN\r\nBEGIN:VEVENT\r\n"
               f"UID:{m.tok(16)}@{m.domain}\r\nDTSTART:20260{m.rng.randint(1, 9)}{m.rng.randint(10, 28)}T{m.rng.randint(8, 19):02d}0000Z\r\n"
               f"SUMMARY:{m.v['place']}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        m.attach.append(("invite.ics", "text/calendar", ics.encode()))
    sign(m)
    tx_footer(m)
    m.tag = "booking"


def payfail(m):
    m.v.update(amount=money(m, 5, 120), last4=f"{m.rng.randint(0, 9999):04d}", n=m.rng.choice([3, 5, 7]))
    m.subject = m.t("payfail_subj")
    greet(m)
    for text in m.rng.sample(m.P["payfail_body"], min(2, len(m.P["payfail_body"]))):
        m.blocks.append(("p", text.format_map(m.v)))
    m.blocks.append(("btn", m.t("payfail_btn"), m.link(f"/billing?s={m.tok(10)}", host=m.account_host)))
    sign(m)
    tx_footer(m)
    m.tag = "billing"


def trial(m):
    m.v.update(n=m.rng.choice([1, 3, 7]), pct=m.rng.choice([15, 20, 30]))
    m.subject = m.t("trial_subj")
    greet(m)
    m.blocks.append(("p", m.t("trial_body")))
    if m.rng.random() < 0.4:
        m.blocks.append(("p", m.t("upsell_body")))
    m.blocks.append(("btn", m.t("trial_btn"), m.link("/billing/plans")))
    sign(m)
    tx_footer(m)
    m.tag = "trial"


def invite(m):
    m.v.update(user=m.username(full=True), team=m.rng.choice(["Acme Design", "Platform Team", "Marketing EU", "Ops"]))
    m.v["email2"] = f"{m.v['user'].split()[0].lower()}@{m.rng.choice(['acme.test', 'globex.test', 'initech.test'])}"
    m.subject = m.t("invite_subj")
    m.blocks.append(("p", m.t("invite_body")))
    m.blocks.append(("btn", m.t("invite_btn"), m.link(f"/invitations/{m.tok(32)}", host=m.account_host)))
    if m.rng.random() < 0.4:
        m.blocks.append(("p", m.t("reset_ignore")))
    tx_footer(m)
    m.tag = "invite"


def export(m):
    m.v.update(n=m.rng.choice([3, 7]), size=m.rng.randint(2, 900))
    m.subject = m.t("export_subj")
    greet(m)
    m.blocks.append(("p", m.t("export_body")))
    m.blocks.append(("btn", m.t("export_btn"), m.link(f"/exports/{m.tok(40)}/download", host=m.account_host)))
    tx_footer(m)


def ticket(m):
    m.v.update(issue=m.t("ticket_issue"), n=m.rng.choice([3, 5, 10]))
    agent = m.person()
    m.subject = m.t("ticket_subj")
    greet(m)
    m.blocks.append(("p", m.t("ticket_body")))
    m.blocks.append(("sig", f"{agent[0]}\n{m.v['brand']} Support"))
    if m.rng.random() < 0.6:
        m.blocks.append(("hr",))
        m.blocks.append(("quote", f"{m.v['first']} {m.v['last']}, {m.v['date']}:\n{m.v['issue']}. {m.t('ticket_issue')}?"))
    m.footer.append(("p", f"[{m.tok(6).upper()}-{m.tok(6).upper()}]"))
    if m.rng.random() < 0.35:
        # Some help desks send from the agent's own mailbox.
        m.from_ = (agent[0], f"{agent[1]}@{m.domain}")
    else:
        m.from_ = (f"{agent[0]} ({m.v['brand']})", f"support@{m.domain}")
    m.extra["in_reply_to"] = f"<{m.tok(20)}@{m.v['recipient_domain']}>"
    m.tag = "support"


def refund(m):
    m.v.update(amount=money(m, 5, 300), n=m.rng.choice([3, 5, 10]))
    m.subject = m.t("refund_subj")
    greet(m)
    m.blocks.append(("p", m.t("refund_body")))
    m.blocks.append(("kv", [(m.L["order"], m.v["order"]), (m.L["amount"], m.v["amount"])]))
    if m.rng.random() < 0.5:
        m.blocks.append(("items", [(n, m.money(p), img, q) for n, p, img, q in line_items(m, images=m.rng.random() < 0.5, k=1)]))
    sign(m)
    tx_footer(m)


def transfer(m):
    m.v.update(amount=money(m, 5, 3000), user=m.username(full=True))
    m.subject = m.t("transfer_subj")
    greet(m)
    m.blocks.append(("p", m.t("transfer_body")))
    m.blocks.append(("kv", [(m.L["ref"], m.v["ref"]), (m.L["date"], m.v["date"])]))
    if m.rng.random() < 0.5:
        m.blocks.append(("btn", m.rng.choice(["Open app", "View transaction", m.t("alert_btn")]), m.link(f"/tx/{m.tok(16)}", host=m.account_host)))
    tx_footer(m)
    m.tag = "payment"


def statement(m):
    m.v.update(amount=money(m, 10, 9000), last4=f"{m.rng.randint(0, 9999):04d}")
    m.subject = m.t("statement_subj")
    greet(m)
    m.blocks.append(("p", m.t("statement_body")))
    if m.rng.random() < 0.5:
        m.attach.append(pdf(m, f"statement-{m.v['month'].lower()}.pdf"))
    tx_footer(m)


def eticket(m):
    m.v.update(event=m.rng.choice(CONCERTS), n=m.rng.randint(1, 4))
    m.subject = m.t("eticket_subj")
    greet(m)
    m.blocks.append(("img", m.image(f"/events/{m.tok(8)}/banner.jpg"), m.v["event"], 600, 250))
    m.blocks.append(("p", m.t("eticket_body")))
    m.blocks.append(("img", f"https://qr.{m.domain}/{m.tok(24)}.png", "QR", 200, 200))
    m.attach.append(pdf(m, f"tickets-{m.v['order']}.pdf"))
    tx_footer(m)
    m.tag = "tickets"


# ================================================================ marketing

def products(m, k=None, discount=True):
    names = PRODUCTS["food" if m.kind_of_brand == "food" else "shop"][m.lang]
    out = []
    for name in m.rng.sample(names, k or m.rng.randint(2, min(6, len(names)))):
        price = m.rng.uniform(9, 250)
        old = m.money(price * m.rng.uniform(1.2, 2)) if discount and m.rng.random() < 0.6 else None
        out.append((name, m.money(price), old, m.image(f"/catalog/{m.rng.randint(10 ** 4, 10 ** 6)}.jpg"), m.link(f"/p/{m.tok(8)}", utm=True)))
    return out


def news(m):
    m.v["title"] = m.rng.choice(m.P["news_titles"])
    m.v["n"] = m.rng.randint(12, 240)
    m.subject = m.t("news_subj")
    m.preheader = m.t("news_intro")
    if m.rng.random() < 0.5:
        greet(m)
    m.blocks.append(("p", m.t("news_intro")))
    arts = []
    for title in m.rng.sample(m.P["news_titles"], m.rng.randint(3, min(6, len(m.P["news_titles"])))):
        arts.append((title, m.link(f"/blog/{m.tok(10).lower()}", utm=True), m.image(f"/blog/{m.tok(6)}.jpg") if m.rng.random() < 0.6 else None))
    m.blocks.append(("articles", arts))
    if m.rng.random() < 0.5:
        m.blocks.append(("btn", m.t("read_more"), m.link("/blog", utm=True)))
    m.hero = (m.image(f"/campaigns/{m.tok(8)}/hero.jpg"), m.link("/", utm=True))
    mk_footer(m)
    m.prefer = {"text": 0.25 if m.kind_of_brand == "media" else 0.05, "alt": 0.5, "html": 0.45}


def sale(m):
    m.v.update(pct=m.rng.choice([10, 15, 20, 25, 30, 40, 50, 60, 70]), n=m.rng.choice([2, 3, 5]), promo=m.promo())
    m.subject = m.t("sale_subj")
    m.preheader = m.t("sale_body")
    m.blocks.append(("h", m.subject))
    m.blocks.append(("p", m.t("sale_body")))
    m.blocks.append(("btn", m.t("sale_btn"), m.link("/sale", utm=True)))
    m.blocks.append(("products", products(m)))
    m.blocks.append(("p", m.t("sale_ends")))
    if m.rng.random() < 0.5:
        m.blocks.append(("btn", m.t("sale_btn"), m.link("/sale/all", utm=True)))
    m.hero = (m.image(f"/campaigns/{m.tok(8)}/sale-{m.v['pct']}.jpg"), m.link("/sale", utm=True))
    mk_footer(m)


def flash(m):
    m.v.update(pct=m.rng.choice([15, 20, 30, 40, 50]), promo=m.promo())
    m.v["url"] = m.link("/flash", utm=True)
    m.subject = m.t("flash_subj")
    if m.rng.random() < 0.5:
        greet(m)
    m.blocks.append(("p", m.t("flash_body")))
    if m.rng.random() < 0.6:
        m.blocks.append(("btn", m.t("sale_btn"), m.v["url"]))
    mk_footer(m)
    m.prefer = {"text": 0.35, "alt": 0.35, "html": 0.3}


def arrivals(m):
    m.v["season"] = m.rng.choice(m.P["season"])
    m.subject = m.t("arrivals_subj")
    m.blocks.append(("h", m.subject))
    m.blocks.append(("p", m.t("arrivals_body")))
    m.blocks.append(("products", products(m, discount=False)))
    m.blocks.append(("btn", m.t("sale_btn"), m.link("/new", utm=True)))
    m.hero = (m.image(f"/lookbook/{m.tok(8)}.jpg"), m.link("/new", utm=True))
    mk_footer(m)


def cart(m):
    m.subject = m.t("cart_subj")
    greet(m)
    m.blocks.append(("p", m.t("cart_body")))
    m.blocks.append(("products", products(m, k=m.rng.randint(1, 3), discount=False)))
    m.blocks.append(("btn", m.t("cart_btn"), m.link(f"/cart/recover/{m.tok(24)}", utm=True)))
    if m.rng.random() < 0.5:
        sign(m)
    mk_footer(m)


def winback(m):
    m.v.update(pct=m.rng.choice([10, 15, 20, 25]), promo=m.promo())
    m.subject = m.t("winback_subj")
    greet(m)
    m.blocks.append(("p", m.t("winback_body")))
    if m.rng.random() < 0.5:
        m.blocks.append(("code", m.v["promo"]))
    m.blocks.append(("btn", m.t("sale_btn"), m.link("/", utm=True)))
    if m.rng.random() < 0.5:
        m.blocks.append(("products", products(m, k=2)))
    sign(m)
    mk_footer(m)


def loyalty(m):
    m.v.update(points=f"{m.rng.randint(100, 9000):,}", n=m.rng.randint(1, 4))
    m.subject = m.t("loyalty_subj")
    greet(m)
    m.blocks.append(("p", m.t("loyalty_body")))
    m.blocks.append(("kv", [(m.L["points"], m.v["points"]), (m.L["status"], m.rng.choice(["Silver", "Gold", "Member"]))]))
    m.blocks.append(("btn", m.t("sale_btn"), m.link("/rewards", utm=True)))
    if m.rng.random() < 0.5:
        m.blocks.append(("products", products(m, k=2)))
    mk_footer(m)


def referral(m):
    m.v["amount"] = m.money(m.rng.choice([10, 15, 20, 25, 50]))
    m.subject = m.t("referral_subj")
    greet(m)
    m.blocks.append(("p", m.t("referral_body")))
    m.blocks.append(("btn", m.rng.choice(["Invite friends", "Share your link", "Get my link"]), m.link(f"/r/{m.tok(8)}", utm=True)))
    m.hero = (m.image("/campaigns/referral.png"), m.link("/refer", utm=True))
    mk_footer(m)


def launch(m):
    m.v.update(product=f"{m.v['brand']} {m.rng.choice(PLAN_PRODUCTS)}", pct=m.rng.choice([20, 30, 40]), n=m.rng.randint(5, 30))
    m.subject = m.t("launch_subj")
    m.preheader = m.t("launch_body")
    m.blocks.append(("h", m.subject))
    m.blocks.append(("p", m.t("launch_body")))
    if m.rng.random() < 0.7:
        m.blocks.append(("img", m.image(f"/launch/{m.tok(6)}/screenshot.png"), m.v["product"], 560, None))
    m.blocks.append(("btn", m.t("launch_btn"), m.link("/features/new", utm=True)))
    if m.rng.random() < 0.4:
        m.blocks.append(("p", m.t("upsell_body")))
    sign(m)
    mk_footer(m)


def upsell(m):
    m.v.update(pct=m.rng.choice([20, 25, 30, 40]), n=m.rng.randint(5, 50))
    if m.rng.random() < 0.3:
        # Sent from the address the product's account mail comes from.
        m.from_ = (m.brand, f"{m.rng.choice(['account', 'billing', 'notifications', 'no-reply'])}@{m.domain}")
    m.subject = m.t("upsell_subj")
    greet(m)
    m.blocks.append(("p", m.t("upsell_body")))
    m.blocks.append(("btn", m.t("upsell_btn"), m.link("/pricing", utm=True)))
    sign(m)
    mk_footer(m)
    m.prefer = {"text": 0.2, "alt": 0.5, "html": 0.3}


def webinar(m):
    m.v["event"] = m.rng.choice(EVENTS[m.lang])
    m.subject = m.t("webinar_subj")
    m.preheader = m.v["event"]
    if m.rng.random() < 0.6:
        greet(m)
    for text in m.rng.sample(m.P["webinar_body"], len(m.P["webinar_body"])):
        m.blocks.append(("p", text.format_map(m.v)))
    m.blocks.append(("kv", [(m.L["date"], m.v["date"]), (m.L["time"], m.v["time"] + " CET")]))
    m.blocks.append(("btn", m.t("webinar_btn"), m.link(f"/webinars/{m.tok(6)}/register", utm=True)))
    if m.rng.random() < 0.5:
        speakers = [m.person() for _ in range(m.rng.randint(1, 3))]
        for name, _ in speakers:
            m.blocks.append(("img", m.image(f"/speakers/{m.tok(6)}.jpg"), name, 80, 80))
            m.blocks.append(("p", name))
    if m.rng.random() < 0.4:
        # HubSpot-style: sent in the name of a person on the events team.
        p = m.person()
        m.from_ = (f"{p[0]} from {m.v['brand']}", f"{p[1]}@{m.domain}")
        m.blocks.append(("sig", f"{p[0]}\nEvents, {m.v['brand']}"))
    mk_footer(m)


def outreach_setup(m):
    role, role_title = m.rng.choice(ROLES[m.lang])
    sender = m.person()
    m.v.update(company=m.rng.choice(TARGET_COMPANIES), mycompany=m.v["brand"], sender=sender[0], sender_first=sender[0].split()[0],
               ref_company=m.rng.choice(REF_COMPANIES), topic=m.rng.choice(TOPICS[m.lang]), role=role, role_title=role_title,
               product=f"{m.v['brand']} {m.rng.choice(PLAN_PRODUCTS)}", pct=m.rng.choice([20, 30, 35, 40]),
               phone=m.phone(), site=f"www.{m.domain}")
    m.from_ = (sender[0], f"{sender[1]}@{m.domain}")
    if m.rng.random() < 0.25:
        m.from_ = (f"{sender[0]} | {m.v['brand']}", f"{m.rng.choice(['sales', 'hello', 'growth', 'partners', 'team'])}@{m.domain}")
    m.prefer = {"text": 0.7, "alt": 0.3, "html": 0.0}
    m.layout_choice = ["simple"]
    return sender


def outreach_body(m, key):
    greeting = m.t("greet")
    body = m.t(key)
    if m.lang in ("en", "ja") or greeting.endswith(("!", ":")):
        body = body[0].upper() + body[1:]
    m.blocks.append(("greet", greeting))
    m.blocks.append(("p", body))
    if m.rng.random() < 0.4:
        m.blocks.append(("link", m.rng.choice(["Book a time", "My calendar", "Here's my calendar", "Calendar"]),
                         m.link(f"/meet/{m.v['sender_first'].lower()}/{m.rng.choice(['15min', '30min', 'intro'])}", host=f"cal.{m.domain}")))
    m.blocks.append(("sig", m.t("outreach_sig")))
    if m.rng.random() < 0.5:
        m.blocks.append(("p", m.t("outreach_optout")))
    if m.rng.random() < 0.2:
        m.footer.append(("unsub", m.rng.choice(["Unsubscribe", "Opt out", m.t("unsub")]), m.link(f"/u/{m.tok(16)}")))


def outreach(m):
    outreach_setup(m)
    m.subject = m.t("outreach_subj")
    outreach_body(m, "outreach_body")


def followup(m):
    outreach_setup(m)
    m.subject = m.t("followup_subj")
    outreach_body(m, "followup_body")
    if m.rng.random() < 0.7:
        earlier = m.fmt_date(m.when - __import__("datetime").timedelta(days=m.rng.randint(3, 12)))
        m.blocks.append(("p", WROTE[m.lang].format(date=earlier, sender=m.v["sender"], addr=m.from_[1])))
        m.blocks.append(("quote", m.t("outreach_body")))
    m.extra["in_reply_to"] = f"<{m.tok(24)}@{m.domain}>"


TRANSACTIONAL = {
    # template: (weight, brand kinds that send it)
    "reset": (16, None), "otp": (16, None), "verify": (12, None), "magic": (6, ("saas", "social", "media", "fintech")),
    "alert": (14, None), "receipt": (24, ("shop", "food", "travel", "events", "telecom", "saas", "media")),
    "invoice": (14, ("saas", "telecom", "media", "fintech")), "ship": (16, ("shop",)), "delivered": (8, ("shop",)),
    "forum": (20, ("forum",)), "code": (18, ("codehost",)), "social": (20, ("social",)), "saas": (28, ("saas",)),
    "booking": (14, ("travel", "food", "events")), "optin": (8, ("media", "shop", "saas", "fintech", "travel")), "payfail": (8, ("saas", "media", "telecom")), "trial": (8, ("saas",)),
    "invite": (8, ("saas", "codehost")), "export": (4, ("saas", "social", "fintech")), "ticket": (12, None),
    "refund": (6, ("shop", "travel")), "transfer": (10, ("fintech",)), "statement": (6, ("fintech",)), "eticket": (6, ("events", "travel")),
}
MARKETING = {
    "news": (40, ("media", "saas", "shop", "fintech", "travel", "forum")), "sale": (34, ("shop", "food", "travel")),
    "flash": (12, ("shop", "food")), "arrivals": (14, ("shop",)), "cart": (16, ("shop", "food", "travel")),
    "winback": (12, ("shop", "food", "travel", "social")), "loyalty": (10, ("shop", "travel", "food")),
    "referral": (8, ("fintech", "food", "shop", "telecom")), "launch": (18, ("saas", "fintech", "telecom", "codehost")),
    "upsell": (16, ("saas", "telecom", "media")), "webinar": (16, ("saas", "fintech")),
    "outreach": (40, ("outreach",)), "followup": (16, ("outreach",)),
}
KEYS = {  # the wording a template needs (it runs only in languages that have all of it)
    "reset": ["reset_subj"], "otp": ["otp_subj"], "verify": ["verify_subj"], "magic": ["magic_subj"], "alert": ["alert_subj"],
    "receipt": ["receipt_subj"], "invoice": ["invoice_subj"], "ship": ["ship_subj"], "delivered": ["delivered_subj"],
    "forum": ["forum_subj"], "code": ["code_quote"], "social": ["social_subj"], "saas": ["saas_body", "forum_quote", "social_quote"],
    "booking": ["booking_subj"], "payfail": ["payfail_subj"], "trial": ["trial_subj", "upsell_body"], "invite": ["invite_subj"],
    "export": ["export_subj"], "ticket": ["ticket_subj"], "refund": ["refund_subj"], "transfer": ["transfer_subj"],
    "statement": ["statement_subj"], "eticket": ["eticket_subj"], "optin": ["optin_subj"], "news": ["news_subj"], "sale": ["sale_subj"],
    "flash": ["flash_subj"], "arrivals": ["arrivals_subj"], "cart": ["cart_subj"], "winback": ["winback_subj"],
    "loyalty": ["loyalty_subj"], "referral": ["referral_subj"], "launch": ["launch_subj"], "upsell": ["upsell_subj"],
    "webinar": ["webinar_subj"], "outreach": ["outreach_subj"], "followup": ["followup_subj"],
}
