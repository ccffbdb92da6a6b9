"""How mail leaves each kind of sender: the platform's headers, its click tracking and open
pixel, its Message-ID, and the list footer it adds. Modelled on what Mailchimp, SendGrid,
HubSpot, Brevo, Klaviyo, Amazon SES, Postmark, Mailgun, PHPMailer scripts, Discourse,
GitHub-style and GitLab-style code hosting, Jira-style trackers, social networks and desktop
mail clients put in real messages; every host name is fictional."""

import base64
import urllib.parse


class Platform:
    """One sending platform as used by one sender for one message."""

    def __init__(self, name, rng, domain, slug, track_clicks, open_pixel, list_headers):
        self.name, self.rng, self.domain, self.slug = name, rng, domain, slug
        self.track_clicks, self.open_pixel, self.list_headers = track_clicks, open_pixel, list_headers
        self.n = rng.randint(1, 40)
        self.uid = self.hex(20)

    def hex(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def tok(self, n):
        return "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(n))

    # -- links
    def wrap(self, url):
        if not self.track_clicks:
            return url
        q = urllib.parse.quote(url, safe="")
        n = self.name
        if n == "mailchimp":
            return f"https://{self.slug}.us{self.n}.list-manage.example/track/click?u={self.uid}&id={self.hex(10)}&e={self.hex(10)}"
        if n in ("sendgrid", "klaviyo"):
            host = f"u{self.n}{self.hex(3)}.ct.sendgrid.example" if n == "sendgrid" else "trk.klclick.example"
            return f"https://{host}/ls/click?upn={self.tok(self.rng.randint(60, 140))}"
        if n == "hubspot":
            return f"https://{self.hex(2)}.hubspotlinks.example/Ctc/{self.tok(2)}+113/{self.tok(9)}/{self.tok(90)}"
        if n == "brevo":
            return f"https://{self.tok(5).lower()}.r.sender-brevo.example/mk/cl/f/{self.tok(80)}"
        if n == "ses":
            return f"https://{self.tok(10).lower()}.r.eu-west-1.awstrack.example/L0/{q}/1/{self.tok(40)}=3"
        if n == "postmark":
            return f"https://click.pstmrk.example/3s/{q}/{self.tok(8)}/{self.tok(12)}"
        if n == "mailgun":
            return f"https://email.{self.domain}/c/{self.tok(120)}"
        if n == "outreach":
            return f"https://track.{self.domain}/c/{self.tok(24)}?u={q}"
        return f"https://links.{self.domain}/r/{self.tok(16)}?url={q}"

    def pixel(self):
        if not self.open_pixel:
            return None
        n = self.name
        if n == "mailchimp":
            src = f"https://{self.slug}.us{self.n}.list-manage.example/track/open.php?u={self.uid}&id={self.hex(10)}&e={self.hex(10)}"
        elif n in ("sendgrid", "klaviyo"):
            host = f"u{self.n}.ct.sendgrid.example" if n == "sendgrid" else "trk.klclick.example"
            src = f"https://{host}/wf/open?upn={self.tok(120)}"
        elif n == "hubspot":
            src = f"https://track.hubspot-mail.example/e2t/to/{self.tok(100)}"
        elif n == "brevo":
            src = f"https://{self.tok(5).lower()}.r.sender-brevo.example/mk/op/{self.tok(60)}"
        elif n == "ses":
            src = f"https://{self.tok(10).lower()}.r.eu-west-1.awstrack.example/I0/{self.tok(60)}/{self.tok(20)}=3"
        elif n == "postmark":
            src = f"https://pstmrk.example/o/{self.tok(30)}"
        elif n == "mailgun":
            src = f"https://email.{self.domain}/o/{self.tok(100)}"
        elif n == "outreach":
            src = f"https://track.{self.domain}/o/{self.tok(24)}.gif"
        else:
            src = f"https://{self.rng.choice(['t', 'e', 'pixel', 'mail'])}.{self.domain}/{self.rng.choice(['o', 'open', 'p', 'e/o'])}/{self.tok(24)}{self.rng.choice(['', '.gif', '.png'])}"
        style = self.rng.choice([
            'width="1" height="1" border="0" alt=""',
            'width="1" height="1" style="display:none"',
            'alt="" style="height:1px !important;width:1px !important;border-width:0 !important;margin:0 !important;padding:0 !important"',
            'width="1" height="1" alt="" style="display:block;border:0"',
            'border="0" width="1" height="1"',
        ])
        return f'<img src="{src}" {style}>'

    def message_id(self, from_domain):
        n = self.name
        if n == "mailchimp":
            return f"<{self.hex(24)}@mail{self.n}.atl{self.rng.randint(1, 300)}.mcdlv.example>"
        if n == "sendgrid":
            return f"<{self.tok(22)}@geopod-ismtpd-{self.rng.randint(1, 40)}>"
        if n == "ses":
            return f"<0102{self.hex(12)}-{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}-000000@eu-west-1.amazonses.example>"
        if n == "postmark":
            return f"<{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}@mtasv.example>"
        if n == "gmail":
            return f"<CA{self.tok(40)}@mail.gmail.example>"
        if n == "outlook":
            return f"<{self.tok(30).upper()}@{self.tok(10).upper()}.eurprd0{self.rng.randint(1, 9)}.prod.outlook.example>"
        return f"<{self.hex(16)}.{self.hex(8)}@{from_domain}>"

    def headers(self, msg):
        """Platform headers; list headers only when this sender's mail carries them."""
        h = []
        n = self.name
        if n == "mailchimp":
            h += [("X-Mailer", f"MailChimp Mailer - **CID{self.hex(10)}{self.hex(10)}**"),
                  ("X-Campaign", f"mailchimp{self.uid}.{self.hex(10)}"),
                  ("X-campaignid", f"mailchimp{self.uid}.{self.hex(10)}"),
                  ("X-Report-Abuse", f"Please report abuse for this campaign here: https://mailchimp.example/abuse/abuse?u={self.uid}"),
                  ("Feedback-ID", f"{self.rng.randint(10 ** 6, 10 ** 7)}:{self.rng.randint(10 ** 6, 10 ** 7)}.{self.rng.randint(10 ** 5, 10 ** 6)}:us{self.n}:mc")]
        elif n == "sendgrid":
            h += [("X-SG-EID", self.tok(120)), ("X-Entity-ID", self.tok(22))]
        elif n == "hubspot":
            h += [("X-HS-Cid", self.tok(40)), ("X-Report-Abuse-To", "abuse@hubspot.example")]
        elif n == "brevo":
            h += [("X-Mailin-Campaign", str(self.rng.randint(10, 900))), ("X-sib-id", self.tok(60)),
                  ("Feedback-ID", f"{self.rng.randint(100, 999)}:{self.rng.randint(10 ** 5, 10 ** 6)}:Sendinblue")]
        elif n == "klaviyo":
            h += [("X-Kmail-Relay", "true"), ("X-Kmail-Account", self.tok(6)), ("X-Kmail-Message", self.tok(26))]
        elif n == "ses":
            h += [("Feedback-ID", f"1.eu-west-1.{self.tok(43)}=:AmazonSES"),
                  ("X-SES-Outgoing", f"2026.{self.rng.randint(1, 12):02d}.{self.rng.randint(1, 28):02d}-54.240.{self.rng.randint(1, 9)}.{self.rng.randint(1, 250)}")]
        elif n == "postmark":
            h += [("X-PM-Message-Id", f"{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}"),
                  ("X-PM-RCPT", f"|{self.tok(40)}|")]
            if msg.tag:
                h.append(("X-PM-Tag", msg.tag))
        elif n == "mailgun":
            h += [("X-Mailgun-Sid", self.tok(60)), ("X-Mailgun-Variables", '{"campaign": "%s"}' % self.hex(6) if msg.label == "marketing" else '{"type": "%s"}' % (msg.tag or "notice"))]
        elif n == "phpmailer":
            h += [("X-Mailer", self.rng.choice(["PHPMailer 6.8.1 (https://github.com/PHPMailer/PHPMailer)",
                                                 "PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)",
                                                 "PHPMailer 5.2.27 (https://github.com/PHPMailer/PHPMailer)"]))]
        elif n == "inhouse":
            if self.rng.random() < 0.5:
                h.append(("X-Mailer", f"{self.slug}-mailer/{self.rng.randint(1, 4)}.{self.rng.randint(0, 20)}"))
        elif n == "outlook":
            h += [("X-Mailer", "Microsoft Outlook 16.0"), ("Thread-Index", base64.b64encode(bytes(self.rng.randrange(256) for _ in range(22))).decode()),
                  ("Content-Language", msg.lang)]
        elif n == "apple":
            h += [("X-Mailer", f"Apple Mail (2.{self.rng.randint(3600, 3800)}.{self.rng.randint(100, 600)}.1.{self.rng.randint(1, 9)})")]
        elif n == "thunderbird":
            h += [("User-Agent", "Mozilla Thunderbird")]
        if self.list_headers:
            h += self.list_unsubscribe(msg)
        return h

    def list_unsubscribe(self, msg):
        """List-Unsubscribe (RFC 2369), one-click (RFC 8058) and List-Id (RFC 2919)."""
        h = []
        https = f"https://{self.unsub_host()}/unsubscribe?u={self.uid}&e={self.hex(12)}"
        mailto = f"mailto:unsubscribe-{self.hex(16)}@{self.unsub_host()}"
        form = self.rng.random()
        if form < 0.5:
            h.append(("List-Unsubscribe", f"<{https}>, <{mailto}>"))
        elif form < 0.8:
            h.append(("List-Unsubscribe", f"<{https}>"))
        else:
            h.append(("List-Unsubscribe", f"<{mailto}>"))
        if form < 0.8 and self.rng.random() < 0.7:
            h.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        if self.rng.random() < (0.7 if msg.label == "marketing" else 0.3):
            h.append(("List-Id", f"{msg.brand} <{self.hex(12)}.list-id.{self.unsub_host()}>"))
        if self.rng.random() < (0.4 if msg.label == "marketing" else 0.1):
            h.append(("Precedence", self.rng.choice(["bulk", "list"])))
        return h

    def unsub_host(self):
        if self.name == "mailchimp":
            return f"{self.slug}.us{self.n}.list-manage.example"
        if self.name == "sendgrid":
            return f"u{self.n}.ct.sendgrid.example"
        if self.name == "hubspot":
            return "hs-unsub.example"
        return f"{self.rng.choice(['email', 'mail', 'news', 'list'])}.{self.domain}"


def notification_headers(rng, style, msg, thread_id):
    """Headers of forum, code-hosting, tracker and social notifications."""
    d = msg.domain
    h = []
    if style == "discourse":
        h += [("List-Id", f"{msg.brand} <{d}>"), ("List-Archive", f"https://{d}/t/{thread_id}"),
              ("List-Unsubscribe", f"<https://{d}/email/unsubscribe/{rng.getrandbits(64):x}>"),
              ("List-Post", f"<mailto:replies+{rng.getrandbits(64):x}@{d}>"),
              ("Precedence", "list"), ("Auto-Submitted", "auto-generated"),
              ("X-Discourse-Post-Id", str(rng.randint(1000, 99999))), ("X-Discourse-Topic-Id", str(thread_id)),
              ("In-Reply-To", f"<topic/{thread_id}@{d}>"), ("References", f"<topic/{thread_id}@{d}>")]
    elif style == "github":
        repo = msg.extra["repo"]
        owner, name = repo.split("/")
        h += [("List-ID", f"{repo} <{name}.{owner}.{d}>"), ("List-Archive", f"https://{d}/{repo}"),
              ("List-Unsubscribe", f"<mailto:unsub+{rng.getrandbits(80):x}@reply.{d}>, <https://{d}/notifications/unsubscribe/{rng.getrandbits(96):x}>"),
              ("Precedence", "list"), ("X-GitHub-Reason", rng.choice(["mention", "author", "review_requested", "subscribed", "comment"])),
              ("X-GitHub-Sender", msg.extra["user_login"]), ("X-Auto-Response-Suppress", "All"),
              ("In-Reply-To", f"<{repo}/issues/{msg.extra['n']}@{d}>"), ("References", f"<{repo}/issues/{msg.extra['n']}@{d}>")]
    elif style == "gitlab":
        repo = msg.extra["repo"]
        h += [("X-GitLab-Project", repo.split("/")[1]), ("X-GitLab-Project-Path", repo), ("List-Id", f"{repo} <{rng.randint(10, 999)}.{repo.replace('/', '.')}.{d}>"),
              ("List-Unsubscribe", f"<https://{d}/-/sent_notifications/{rng.getrandbits(64):x}/unsubscribe>"),
              ("X-GitLab-NotificationReason", rng.choice(["mentioned", "assigned", "own_activity", ""])),
              ("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All"),
              ("In-Reply-To", f"<issue_{rng.randint(100, 9999)}@{d}>")]
    elif style == "jira":
        h += [("Auto-Submitted", "auto-generated"), ("Precedence", "bulk"), ("X-JIRA-FingerPrint", f"{rng.getrandbits(128):x}"),
              ("In-Reply-To", f"<JIRA.{rng.randint(10000, 99999)}.{rng.getrandbits(40)}@{d}>")]
    elif style == "asana":
        h += [("X-Asana-Type", rng.choice(["task_assigned", "comment"])), ("List-Unsubscribe", f"<https://app.{d}/-/unsubscribe?u={rng.getrandbits(64):x}>")]
    elif style == "monitor":
        h += [("Auto-Submitted", "auto-generated"), ("X-Priority", "1"), ("X-Alert-Id", str(rng.randint(10 ** 6, 10 ** 7)))]
    elif style == "ci":
        h += [("Auto-Submitted", "auto-generated"), ("X-CI-Pipeline-Id", str(rng.randint(10 ** 5, 10 ** 6))),
              ("List-Id", f"{msg.extra['repo']} <ci.{d}>")]
    elif style == "social":
        h += [("List-Unsubscribe", f"<https://{d}/o.php?k={rng.getrandbits(64):x}&u={rng.getrandbits(40)}&mid={rng.getrandbits(48):x}>"),
              ("X-Notification-Type", rng.choice(["comment", "follow", "mention", "digest"]))]
        if rng.random() < 0.5:
            h.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        if rng.random() < 0.4:
            h.append(("Precedence", "bulk"))
        if rng.random() < 0.3:
            h.append(("Feedback-ID", f"{rng.randint(100, 999)}:{msg.extra.get('ntype', 'notif')}:social"))
    return h
