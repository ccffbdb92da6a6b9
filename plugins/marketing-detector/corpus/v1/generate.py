#!/usr/bin/env python3
"""Writes the labelled corpus of the marketing detector: transactional/*.eml (mail a
transactional relay must carry) and marketing/*.eml (mail it should not), written for this
project. Each template is instantiated for several fictional senders, so wording, layout
(plain text, HTML, both) and headers vary. Hard cases are included on purpose: receipts with
List-Unsubscribe, shipping mails full of product images and links, trial-ending notices with
an upgrade button, plain-text cold outreach without any list header.

Re-run after editing: python3 generate.py (the .eml files are committed).
"""
import email.utils
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261123)

BRANDS = [
    {"name": "Northwind Outfitters", "domain": "northwind-outfitters.example", "kind": "shop"},
    {"name": "Ledgerly", "domain": "ledgerly.example", "kind": "fintech"},
    {"name": "Cloudnest", "domain": "cloudnest.example", "kind": "saas"},
]
PEOPLE = ["Amira Haddad", "Jonas Berg", "Priya Raman", "Tomás Ortega", "Mei Lin", "Chidi Okafor",
          "Sofia Rossi", "Liam Walsh", "Hana Sato", "Noah Fischer"]


def token(n=24):
    return "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(n))


def code(n=6):
    return "".join(rng.choice("0123456789") for _ in range(n))


def money():
    return f"{rng.randint(5, 480)}.{rng.randint(0, 99):02d}"


def html_wrap(b, inner, footer=""):
    return f"""<!doctype html><html><body style="font-family:Arial,sans-serif">
<table width="600" align="center"><tr><td>
<img src="https://static.{b['domain']}/logo.png" alt="{b['name']}" width="140" height="40">
{inner}
<p style="color:#888;font-size:12px">{b['name']}, 12 Harbour Street, Porto{footer}</p>
</td></tr></table></body></html>"""


# ---------------------------------------------------------------- transactional templates

def password_reset(b, p):
    t = token()
    return ("Reset your password",
            f"Hi {p.split()[0]},\n\nSomeone asked to reset the password of your {b['name']} account.\n"
            f"Use this link within 30 minutes:\nhttps://account.{b['domain']}/reset?t={t}\n\n"
            "If this was not you, ignore this email; your password stays the same.\n", None, {})


def password_reset_html(b, p):
    t = token()
    inner = (f"<h2>Password reset</h2><p>Hello {p.split()[0]},</p><p>Click the button below to choose a new password. "
             f"The link expires in one hour.</p><p><a href=\"https://account.{b['domain']}/reset?t={t}\" "
             "style=\"background:#2a6;color:#fff;padding:10px\">Choose a new password</a></p>"
             f"<p>Didn't ask for this? <a href=\"https://help.{b['domain']}/security\">Contact security</a>.</p>")
    return ("Your password reset link", f"Choose a new password: https://account.{b['domain']}/reset?t={t}\n",
            html_wrap(b, inner, " · <a href=\"https://account." + b['domain'] + "/notifications\">Notification settings</a>"), {})


def two_factor_code(b, p):
    c = code()
    return (f"{c} is your {b['name']} verification code",
            f"Your verification code is {c}.\nIt expires in 10 minutes. Never share it with anyone, "
            f"including {b['name']} staff.\n", None, {})


def sms_style_otp(b, p):
    c = code(8)
    return ("Your one-time sign-in code",
            f"{b['name']} sign-in code: {c}\n\nRequested from Chrome on Windows near Lisbon, PT.\n"
            "If you did not try to sign in, change your password now.\n", None, {})


def verify_email(b, p):
    t = token()
    inner = (f"<h2>Confirm your email address</h2><p>Welcome, {p.split()[0]}! Confirm this address to finish "
             f"creating your account.</p><p><a href=\"https://app.{b['domain']}/verify/{t}\">Verify email</a></p>")
    return ("Please verify your email address", f"Verify your email: https://app.{b['domain']}/verify/{t}\n",
            html_wrap(b, inner), {})


def receipt(b, p):
    n = rng.randint(100000, 999999)
    items = [("Merino crew socks", money()), ("Trail cap", money()), ("Gift wrap", "3.00")]
    lines = "\n".join(f"  {name:<24} {price:>8} EUR" for name, price in items)
    rows = "".join(f"<tr><td>{name}</td><td align=right>{price} EUR</td></tr>" for name, price in items)
    inner = (f"<h2>Thanks for your order #{n}</h2><table>{rows}</table><p>Paid with Visa ending 4242.</p>"
             f"<p><a href=\"https://{b['domain']}/orders/{n}\">View your order</a></p>")
    return (f"Your {b['name']} receipt for order #{n}",
            f"Order #{n}\n{lines}\n  Total paid: {money()} EUR\n\nView your order: https://{b['domain']}/orders/{n}\n",
            html_wrap(b, inner), {})


def receipt_with_list_unsubscribe(b, p):
    s, t, h, _ = receipt(b, p)
    return (s, t, h, {"List-Unsubscribe": f"<https://{b['domain']}/u/{token(12)}>"})


def invoice(b, p):
    n = f"INV-{rng.randint(2026000, 2026999)}"
    return (f"Invoice {n} from {b['name']}",
            f"Dear {p},\n\nInvoice {n} for {money()} EUR is attached and due on 15 December 2026.\n"
            f"Pay online: https://billing.{b['domain']}/invoices/{n}\n\nAccounts team\n", None, {})


def shipping(b, p):
    n = rng.randint(100000, 999999)
    tn = f"1Z{code(4)}{token(6).upper()}"
    imgs = "".join(f"<img src=\"https://static.{b['domain']}/p/{rng.randint(1, 900)}.jpg\" width=\"120\" height=\"120\" alt=\"item\">" for _ in range(4))
    links = "".join(f"<li><a href=\"https://{b['domain']}/p/{rng.randint(1, 900)}\">Item {i + 1}</a></li>" for i in range(5))
    inner = (f"<h2>Your order #{n} has shipped</h2>{imgs}<ul>{links}</ul><p>Tracking number {tn}: "
             f"<a href=\"https://track.carrier.example/{tn}\">track your parcel</a></p>"
             f"<p><a href=\"https://{b['domain']}/orders/{n}\">Order details</a> · <a href=\"https://{b['domain']}/returns\">Returns</a> · "
             f"<a href=\"https://{b['domain']}/help\">Help</a></p>")
    return (f"Your order #{n} has shipped", f"Tracking number {tn}: https://track.carrier.example/{tn}\n",
            html_wrap(b, inner), {})


def delivered(b, p):
    return ("Your parcel was delivered",
            f"Your {b['name']} parcel was delivered today at 14:{rng.randint(10, 59)} and left at the front door.\n"
            f"Not received it? Tell us within 48 hours: https://{b['domain']}/help/missing\n", None, {})


def security_alert(b, p):
    return ("Security alert: new sign-in to your account",
            f"We noticed a new sign-in to your {b['name']} account.\n\nDevice: Firefox on Ubuntu\nLocation: Berlin, DE\n"
            f"Time: 23 Nov 2026 09:{rng.randint(10, 59)} UTC\n\nIf this was you, there is nothing to do. If not, secure "
            f"your account: https://account.{b['domain']}/security\n", None, {})


def password_changed(b, p):
    return ("Your password was changed",
            f"Hi {p.split()[0]}, the password of your {b['name']} account was changed just now.\n"
            "If you did not do this, reset it immediately and contact support.\n", None, {})


def payment_failed(b, p):
    return ("Action required: your payment failed",
            f"We could not charge your card ending {code(4)} for {money()} EUR.\nUpdate your payment method to keep "
            f"your {b['name']} account active: https://billing.{b['domain']}/payment\n", None, {})


def renewal_receipt(b, p):
    return (f"Your {b['name']} subscription renewed",
            f"Your annual plan renewed on 23 November 2026.\nAmount charged: {money()} EUR\nNext renewal: 23 November 2027\n"
            f"Manage billing: https://billing.{b['domain']}\n", None, {})


def refund(b, p):
    return ("Your refund has been processed",
            f"We refunded {money()} EUR to your original payment method for order #{rng.randint(100000, 999999)}.\n"
            "It may take 5-10 business days to appear on your statement.\n", None, {})


def appointment(b, p):
    return ("Appointment confirmed for Thursday",
            f"Hi {p.split()[0]},\n\nYour appointment is confirmed: Thursday 26 November, 10:30, with {rng.choice(PEOPLE)}.\n"
            f"Reschedule or cancel: https://book.{b['domain']}/a/{token(10)}\n", None, {})


def booking(b, p):
    ref = token(6).upper()
    inner = (f"<h2>Booking confirmed</h2><p>Reference <b>{ref}</b></p><p>Check-in: 4 Dec 2026 · Check-out: 7 Dec 2026</p>"
             f"<p><a href=\"https://{b['domain']}/bookings/{ref}\">Manage booking</a></p>"
             f"<img src=\"https://static.{b['domain']}/map/{ref}.png\" width=\"560\" height=\"200\" alt=\"map\">")
    return (f"Booking confirmation {ref}", f"Your booking {ref} is confirmed.\n", html_wrap(b, inner), {})


def account_locked(b, p):
    return ("Your account has been temporarily locked",
            "After several failed sign-in attempts we locked your account for 30 minutes.\n"
            f"Unlock it now by resetting your password: https://account.{b['domain']}/unlock?t={token()}\n", None, {})


def magic_link(b, p):
    return (f"Sign in to {b['name']}",
            f"Click to sign in (valid 15 minutes, one use):\nhttps://app.{b['domain']}/magic/{token(32)}\n", None, {})


def api_key(b, p):
    return ("A new API key was created",
            f"An API key named \"ci-deploy\" was created in your {b['name']} workspace by {p}.\n"
            "If this was unexpected, revoke it from the dashboard.\n", None, {})


def two_factor_enabled(b, p):
    return ("Two-factor authentication is now on",
            "Two-factor authentication was enabled for your account. Keep your recovery codes somewhere safe.\n",
            None, {})


def data_export(b, p):
    return ("Your data export is ready",
            f"The export you requested is ready to download for 7 days:\nhttps://app.{b['domain']}/exports/{token(16)}.zip\n",
            None, {})


def team_invite(b, p):
    inviter = rng.choice(PEOPLE)
    inner = (f"<p>{inviter} invited you to join the <b>Platform</b> workspace on {b['name']}.</p>"
             f"<p><a href=\"https://app.{b['domain']}/invite/{token()}\">Accept invitation</a></p>")
    return (f"{inviter} invited you to {b['name']}", f"Accept: https://app.{b['domain']}/invite\n", html_wrap(b, inner), {})


def mention(b, p):
    who = rng.choice(PEOPLE)
    return (f"{who} mentioned you in a comment",
            f"{who} wrote on \"Q4 budget\":\n\n  @{p.split()[0].lower()} can you check the totals in row 14?\n\n"
            f"Reply: https://app.{b['domain']}/c/{token(8)}\n\nYou get this because you were mentioned. "
            f"Notification settings: https://app.{b['domain']}/settings/notifications\n", None, {})


def ticket_update(b, p):
    n = rng.randint(10000, 99999)
    return (f"[Ticket #{n}] We replied to your request",
            f"Hi {p.split()[0]},\n\nWe looked into the duplicate charge. It was a pending authorisation and has been "
            f"released.\n\nReply to this email to continue the conversation.\n\nTicket #{n}\n", None, {})


def transfer_received(b, p):
    return ("You received a transfer",
            f"{rng.choice(PEOPLE)} sent you {money()} EUR.\nReference: rent December\nIt is now in your {b['name']} balance.\n",
            None, {})


def trial_ending(b, p):
    inner = ("<p>Your trial ends in 3 days. Your projects stay as they are; to keep adding team members, choose a plan.</p>"
             f"<p><a href=\"https://billing.{b['domain']}/plans\">Choose a plan</a></p>")
    return ("Your trial ends in 3 days", "Your trial ends in 3 days.\n", html_wrap(b, inner), {})


def order_cancelled(b, p):
    return ("Your order was cancelled",
            f"As requested, order #{rng.randint(100000, 999999)} was cancelled. You have not been charged.\n", None, {})


def return_label(b, p):
    return ("Your return label",
            f"Print the attached label and drop the parcel at any carrier point within 14 days.\nReturn ID: R{code(7)}\n",
            None, {})


def statement(b, p):
    return ("Your November statement is available",
            f"Your {b['name']} statement for November 2026 is ready in the app.\nClosing balance: {money()} EUR\n",
            None, {})


def email_change(b, p):
    return ("Confirm your new email address",
            f"Confirm the change of your login email: https://account.{b['domain']}/email/confirm/{token()}\n"
            "The old address stays active until you confirm.\n", None, {})


TRANSACTIONAL = [password_reset, password_reset_html, two_factor_code, sms_style_otp, verify_email, receipt,
                 receipt_with_list_unsubscribe, invoice, shipping, delivered, security_alert, password_changed,
                 payment_failed, renewal_receipt, refund, appointment, booking, account_locked, magic_link,
                 api_key, two_factor_enabled, data_export, team_invite, mention, ticket_update,
                 transfer_received, trial_ending, order_cancelled, return_label, statement, email_change]

# ---------------------------------------------------------------- marketing templates

def list_headers(b):
    return {"List-Unsubscribe": f"<https://{b['domain']}/unsubscribe/{token(12)}>, <mailto:unsub@{b['domain']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"{b['name']} News <news.{b['domain']}>",
            "Precedence": "bulk"}


def footer(b):
    return (f"<br>You receive this because you subscribed to {b['name']} news. "
            f"<a href=\"https://{b['domain']}/unsubscribe\">Unsubscribe</a> · <a href=\"https://{b['domain']}/prefs\">Manage preferences</a>"
            f"<img src=\"https://t.{b['domain']}/open/{token(16)}.gif\" width=\"1\" height=\"1\" alt=\"\">")


def product_grid(b, n):
    return "".join(f"<a href=\"https://{b['domain']}/p/{rng.randint(1, 999)}?utm_source=newsletter\"><img src=\"https://static.{b['domain']}/p/{rng.randint(1, 999)}.jpg\" width=\"180\"></a>" for _ in range(n))


def newsletter(b, p):
    links = "".join(f"<li><a href=\"https://blog.{b['domain']}/{token(8)}?utm_campaign=weekly\">Story {i + 1}</a></li>" for i in range(12))
    inner = f"<h1>This week at {b['name']}</h1><ul>{links}</ul>"
    return (f"{b['name']} Weekly: what's new this week", "This week's stories: ...\n", html_wrap(b, inner, footer(b)), list_headers(b))


def flash_sale(b, p):
    inner = f"<h1>FLASH SALE: 40% OFF everything</h1><p>48 hours only. Shop now!</p>{product_grid(b, 8)}<p>Use promo code FLASH40 at checkout.</p>"
    return ("⚡ 40% off everything - 48 hours only", "Flash sale: 40% off. Shop now.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def product_launch(b, p):
    inner = f"<h1>Introducing the Summit jacket</h1><p>We're excited to announce our lightest jacket yet. Now available.</p>{product_grid(b, 3)}<p><a href=\"https://{b['domain']}/summit\">Shop now</a></p>"
    return ("Introducing the Summit jacket", "Introducing our new jacket. Shop now.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def feature_announcement(b, p):
    inner = (f"<h1>New: automations in {b['name']}</h1><p>We're excited to announce automations, now available on all plans. "
             f"Check out what's new and start your free upgrade today.</p><p><a href=\"https://{b['domain']}/whats-new\">See what's new</a></p>")
    return (f"New in {b['name']}: automations", "New feature announcement.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def webinar(b, p):
    inner = (f"<h1>Join our free webinar</h1><p>Thursday 3 December, 16:00 CET: scaling your finance team. Register now - seats are limited.</p>"
             f"<p><a href=\"https://events.{b['domain']}/webinar?utm_source=email\">Register for free</a></p>")
    return ("You're invited: free webinar on Thursday", "Register for our webinar.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def cold_outreach(b, p):
    me = rng.choice(PEOPLE)
    return ("Quick question",
            f"Hi {p.split()[0]},\n\nI came across your company and noticed you're hiring engineers. We help teams like yours "
            f"cut cloud costs by 30%.\n\nWould you be open to a 15-minute call next week to see if it's a fit? "
            f"You can book a time here: https://calendly.example/{me.split()[0].lower()}\n\nBest,\n{me}\nGrowth, {b['name']}\n", None, {})


def cold_followup(b, p):
    me = rng.choice(PEOPLE)
    return ("Re: following up",
            f"Hi {p.split()[0]},\n\nJust following up on my last email - I'd love to show you a quick demo of how {b['name']} "
            f"could help your team.\n\nDo you have 15 minutes this week? If not, let me know who the right person is.\n\n{me}\n",
            None, {})


def cold_agency(b, p):
    return ("Partnership opportunity",
            f"Hello,\n\nI'm reaching out because our agency helps brands rank on the first page of Google. We've worked with 200+ "
            f"companies and would love to do the same for you. Can we schedule a demo call this week?\n\n"
            f"Reply STOP if you don't want to hear from us again.\n", None, {})


def abandoned_cart(b, p):
    inner = f"<h1>You left something behind</h1><p>Your cart is waiting - complete your purchase and get free shipping.</p>{product_grid(b, 2)}<p><a href=\"https://{b['domain']}/cart\">Return to cart</a></p>"
    return ("Did you forget something?", "Your cart is waiting.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def we_miss_you(b, p):
    inner = f"<h1>We miss you, {p.split()[0]}!</h1><p>It's been a while. Here's 15% off your next order - limited time only.</p><p><a href=\"https://{b['domain']}/?utm_campaign=winback\">Come back</a></p>"
    return ("We miss you - here's 15% off", "We miss you. 15% off.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def black_friday(b, p):
    inner = f"<h1>BLACK FRIDAY DEALS</h1><p>Save up to 60%. Don't miss out!</p>{product_grid(b, 10)}"
    return ("Black Friday starts NOW - save up to 60%", "Black Friday deals.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def referral(b, p):
    inner = f"<h1>Give $10, get $10</h1><p>Invite your friends to {b['name']} and you both get a bonus. Exclusive offer for members.</p><p><a href=\"https://{b['domain']}/refer\">Invite friends</a></p>"
    return ("Give $10, get $10", "Refer friends.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def survey(b, p):
    inner = f"<p>Tell us what you think in 3 minutes and get a chance to win a $100 gift card!</p><p><a href=\"https://survey.{b['domain']}/s?utm_source=email\">Take the survey</a></p>"
    return ("Win a $100 gift card: 3-minute survey", "Take our survey.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def conference(b, p):
    inner = f"<h1>{b['name']} Summit 2027</h1><p>Early-bird tickets 30% off until Friday. Join 2,000 leaders in Lisbon.</p><p><a href=\"https://summit.{b['domain']}\">Get your ticket</a></p>{product_grid(b, 3)}"
    return ("Early-bird tickets: 30% off until Friday", "Summit tickets.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def catalog(b, p):
    inner = f"<h1>The winter catalog is here</h1>{product_grid(b, 16)}<p>New arrivals for the cold season.</p>"
    return ("The winter catalog is here", "See the winter catalog.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def loyalty(b, p):
    inner = f"<p>You have 1,250 points! Double points this weekend on every purchase. Shop now and save.</p>{product_grid(b, 4)}"
    return ("Double points this weekend", "Double points.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def partner_offer(b, p):
    inner = "<p>A special offer from our partner: 3 months of premium streaming free. Exclusive deal for our subscribers.</p><p><a href=\"https://partner.example/offer?utm_source=partner\">Claim offer</a></p>"
    return ("An exclusive offer from our partners", "Partner offer.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def app_promo(b, p):
    inner = f"<h1>Get the app</h1><p>Download the new {b['name']} app and get 10% off your first in-app order.</p><p><a href=\"https://apps.example/{b['kind']}\">Download now</a></p>"
    return ("Have you tried our app yet?", "Get the app.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def free_shipping(b, p):
    inner = f"<h1>Free shipping weekend</h1><p>No minimum. Ends Sunday at midnight. Shop now!</p>{product_grid(b, 6)}"
    return ("Free shipping this weekend only", "Free shipping weekend.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def new_arrivals(b, p):
    inner = f"<h1>New arrivals</h1>{product_grid(b, 9)}<p><a href=\"https://{b['domain']}/new\">Shop new arrivals</a></p>"
    return ("Just landed: new arrivals", "New arrivals.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def blog_digest(b, p):
    posts = "".join(f"<h3><a href=\"https://blog.{b['domain']}/{token(8)}\">Post title {i}</a></h3><p>Summary of the post...</p>" for i in range(6))
    return (f"The {b['name']} digest: November", "Monthly digest.\n", html_wrap(b, f"<h1>Monthly digest</h1>{posts}", footer(b)), list_headers(b))


def upgrade_pitch(b, p):
    inner = f"<h1>Unlock Pro features</h1><p>Upgrade today and get 2 months free. Limited time offer.</p><p><a href=\"https://{b['domain']}/pricing?utm_campaign=upsell\">Upgrade now</a></p>"
    return ("Unlock Pro - 2 months free", "Upgrade now.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def case_study(b, p):
    inner = f"<h1>How Acme saved 20 hours a week</h1><p>Read the customer story and see how teams use {b['name']}.</p><p><a href=\"https://{b['domain']}/customers/acme\">Read the story</a></p>"
    return ("How Acme saved 20 hours a week", "Customer story.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def birthday(b, p):
    inner = f"<h1>Happy birthday, {p.split()[0]}!</h1><p>Here's a 20% discount just for you. Use code BDAY20.</p>"
    return ("Happy birthday! A gift inside 🎁", "Happy birthday: 20% off.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def price_drop(b, p):
    inner = f"<p>Good news: items you viewed are now on sale. Save up to 35% while stock lasts.</p>{product_grid(b, 5)}"
    return ("Price drop on items you viewed", "Price drop.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def last_chance(b, p):
    inner = "<h1>Last chance!</h1><p>Our biggest sale ends tonight. Don't miss out on 50% off.</p>"
    return ("Last chance: sale ends tonight", "Last chance.\n", html_wrap(b, inner, footer(b)), list_headers(b))


def cold_recruiter(b, p):
    return ("Exciting opportunity",
            f"Hi {p.split()[0]},\n\nI'm reaching out about an exciting opportunity at a fast-growing startup. Based on your "
            "profile, I think you'd be a great fit. Are you open to a quick chat this week? Book a slot on my calendar: "
            "https://calendly.example/talent\n\nCheers,\nRecruiting team\n", None, {})


MARKETING = [newsletter, flash_sale, product_launch, feature_announcement, webinar, cold_outreach, cold_followup,
             cold_agency, abandoned_cart, we_miss_you, black_friday, referral, survey, conference, catalog, loyalty,
             partner_offer, app_promo, free_shipping, new_arrivals, blog_digest, upgrade_pitch, case_study, birthday,
             price_drop, last_chance, cold_recruiter]


def render(b, p, subject, text, html, extra, index, personal=False):
    import datetime
    from email.header import Header
    to = p.lower().replace(" ", ".").replace("á", "a") + "@customer.example"
    if personal:  # cold outreach comes from a person, not a no-reply address
        who = rng.choice(PEOPLE)
        sender = email.utils.formataddr((who, who.split()[0].lower().replace("á", "a") + "@" + b["domain"]), "utf-8")
    else:
        sender = email.utils.formataddr((b["name"], "no-reply@" + b["domain"]))
    when = datetime.datetime(2026, 11, 20 + index % 3, rng.randint(6, 22), rng.randint(0, 59), tzinfo=datetime.timezone.utc)
    headers = [
        ("From", sender), ("To", email.utils.formataddr((p, to), "utf-8")),
        ("Subject", Header(subject, "utf-8").encode() if any(ord(c) > 127 for c in subject) else subject),
        ("Date", email.utils.format_datetime(when)),
        ("Message-ID", f"<{token(20)}@{b['domain']}>"), ("MIME-Version", "1.0"),
    ] + list(extra.items())
    out = [f"{k}: {v}" for k, v in headers]
    if html is not None:
        html = html.replace("><", ">\n<")  # keep lines far below the 998-octet limit
    if html is None:
        out += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", text]
    else:
        bnd = f"=_{token(16)}"
        out += [f"Content-Type: multipart/alternative; boundary=\"{bnd}\"", "",
                f"--{bnd}", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", text,
                f"--{bnd}", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", html,
                f"--{bnd}--", ""]
    return "\r\n".join(line for block in out for line in block.split("\n")).encode()


def main():
    for label, templates in (("transactional", TRANSACTIONAL), ("marketing", MARKETING)):
        d = os.path.join(HERE, label)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        n = 0
        for t in templates:
            for i, b in enumerate(BRANDS):
                p = PEOPLE[(n + i) % len(PEOPLE)]
                subject, text, html, extra = t(b, p)
                n += 1
                with open(os.path.join(d, f"{n:03d}-{t.__name__}.eml"), "wb") as f:
                    f.write(render(b, p, subject, text, html, extra, n, t.__name__.startswith("cold")))
        print(label, n)


if __name__ == "__main__":
    main()
