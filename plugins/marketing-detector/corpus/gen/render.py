"""Turns a message's content (blocks) into text and HTML bodies, in several layouts and
button styles, the way different sending platforms and in-house templates do."""

import html as htmlmod


def esc(s):
    return htmlmod.escape(s, quote=True)


# ------------------------------------------------------------------ plain text

def text_body(rng, c):
    """Plain-text rendering of the blocks."""
    out = []
    link_style = rng.choice(["colon", "newline", "angle", "bare"])
    for b in c.blocks:
        kind = b[0]
        if kind in ("p", "h", "sig", "greet"):
            out.append(b[1] if kind != "h" or rng.random() < 0.5 else b[1].upper())
        elif kind == "quote":
            out.append("\n".join("> " + line for line in b[1].split("\n")))
        elif kind == "code":
            out.append("    " + b[1])
        elif kind in ("btn", "link"):
            text, url = b[1], b[2]
            if link_style == "colon":
                out.append(f"{text}: {url}")
            elif link_style == "newline":
                out.append(f"{text}\n{url}")
            elif link_style == "angle":
                out.append(f"{text} <{url}>")
            else:
                out.append(url)
        elif kind == "kv":
            w = max(len(k) for k, _ in b[1])
            out.append("\n".join(f"{k.ljust(w)}  {v}" for k, v in b[1]))
        elif kind == "items":
            out.append("\n".join(f"{q} x {n}  {p}" if q else f"{n}  {p}" for n, p, _img, q in b[1]))
        elif kind == "products":
            lines = []
            for name, price, old, _img, url in b[1]:
                price_s = f"{price} (was {old})" if old and rng.random() < 0.5 else price
                lines.append(f"* {name} – {price_s}\n  {url}")
            out.append("\n".join(lines))
        elif kind == "articles":
            out.append("\n\n".join(f"{i + 1}. {t}\n{u}" for i, (t, u, _img) in enumerate(b[1])))
        elif kind == "img":
            continue
        elif kind == "hr":
            out.append("-" * rng.choice([20, 40, 60]))
    for f in c.footer:
        if f[0] == "p":
            out.append(f[1])
        elif f[0] in ("link", "unsub"):
            out.append(f"{f[1]}: {f[2]}")
        elif f[0] == "social":
            out.append(" | ".join(u for _n, u in f[1]))
    sep = "\n\n" if rng.random() < 0.85 else "\n"
    return sep.join(x for x in out if x) + "\n"


# ------------------------------------------------------------------ HTML

BUTTON_STYLES = ["inline", "table", "class", "plain", "vml"]


def button(rng, style, color, text, url):
    t, u = esc(text), esc(url)
    if style == "inline":
        radius = rng.choice([0, 3, 4, 6, 24])
        return (f'<a href="{u}" style="background-color:{color};color:#ffffff;padding:12px 28px;'
                f'border-radius:{radius}px;text-decoration:none;display:inline-block;font-weight:bold">{t}</a>')
    if style == "table":
        return (f'<table role="presentation" border="0" cellpadding="0" cellspacing="0"><tr>'
                f'<td align="center" bgcolor="{color}" style="border-radius:5px">'
                f'<a href="{u}" target="_blank" style="font-size:16px;color:#ffffff;text-decoration:none;'
                f'padding:14px 30px;display:inline-block">{t}</a></td></tr></table>')
    if style == "class":
        cls = rng.choice(["button", "btn btn-primary", "cta", "email-button"])
        return f'<a class="{cls}" href="{u}">{t}</a>'
    if style == "vml":
        return (f'<div><!--[if mso]><v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="{u}" '
                f'style="height:44px;v-text-anchor:middle;width:220px;" arcsize="10%" fillcolor="{color}">'
                f'<center style="color:#ffffff">{t}</center></v:roundrect><![endif]-->'
                f'<a href="{u}" style="background:{color};border-radius:4px;color:#ffffff;display:inline-block;'
                f'line-height:44px;text-align:center;width:220px;text-decoration:none">{t}</a></div>')
    return f'<a href="{u}">{t}</a>'


def html_blocks(rng, c, bstyle, color, rich):
    parts = []
    for b in c.blocks:
        kind = b[0]
        if kind == "greet":
            parts.append(f"<p>{esc(b[1])}</p>")
        elif kind == "p":
            inner = esc(b[1]).replace("\n", "<br>")
            parts.append(f'<p style="margin:0 0 16px;line-height:1.5">{inner}</p>' if rich else f"<p>{inner}</p>")
        elif kind == "h":
            tag = rng.choice(["h1", "h2"]) if rich else "h2"
            parts.append(f"<{tag}>{esc(b[1])}</{tag}>")
        elif kind == "sig":
            parts.append(f"<p>{esc(b[1]).replace(chr(10), '<br>')}</p>")
        elif kind == "quote":
            parts.append(f'<blockquote style="border-left:3px solid #ddd;margin:0;padding-left:12px;color:#555">'
                         f'{esc(b[1]).replace(chr(10), "<br>")}</blockquote>')
        elif kind == "code":
            parts.append(f'<p style="font-size:32px;letter-spacing:6px;font-family:monospace"><strong>{esc(b[1])}</strong></p>')
        elif kind == "btn":
            parts.append(f"<p>{button(rng, bstyle, color, b[1], b[2])}</p>")
        elif kind == "link":
            parts.append(f'<p><a href="{esc(b[2])}">{esc(b[1])}</a></p>')
        elif kind == "kv":
            rows = "".join(f'<tr><td style="color:#666;padding:4px 12px 4px 0">{esc(k)}</td><td><strong>{esc(v)}</strong></td></tr>'
                           for k, v in b[1])
            parts.append(f'<table cellpadding="0" cellspacing="0">{rows}</table>')
        elif kind == "items":
            rows = []
            for name, price, img, qty in b[1]:
                pic = f'<td><img src="{esc(img)}" width="64" height="64" alt="{esc(name)}"></td>' if img else ""
                q = f"{qty} × " if qty else ""
                rows.append(f'<tr>{pic}<td style="padding:8px">{q}{esc(name)}</td><td align="right">{esc(price)}</td></tr>')
            parts.append(f'<table width="100%" cellpadding="0" cellspacing="0">{"".join(rows)}</table>')
        elif kind == "products":
            cells = []
            for name, price, old, img, url in b[1]:
                was = f' <s style="color:#999">{esc(old)}</s>' if old else ""
                cells.append(f'<td width="50%" align="center" style="padding:10px"><a href="{esc(url)}">'
                             f'<img src="{esc(img)}" width="260" alt="{esc(name)}" style="display:block;border:0"></a>'
                             f'<p>{esc(name)}<br><strong>{esc(price)}</strong>{was}</p></td>')
            rows = "".join("<tr>" + "".join(cells[i:i + 2]) + "</tr>" for i in range(0, len(cells), 2))
            parts.append(f'<table width="100%" cellpadding="0" cellspacing="0">{rows}</table>')
        elif kind == "articles":
            for title, url, img in b[1]:
                pic = f'<a href="{esc(url)}"><img src="{esc(img)}" width="560" alt="" style="display:block"></a>' if img else ""
                parts.append(f'{pic}<h3 style="margin:12px 0 4px"><a href="{esc(url)}" style="color:#111">{esc(title)}</a></h3>')
        elif kind == "img":
            _, url, alt, w, h = b
            size = f' width="{w}"' + (f' height="{h}"' if h else "")
            parts.append(f'<img src="{esc(url)}" alt="{esc(alt)}"{size} style="display:block;max-width:100%">')
        elif kind == "hr":
            parts.append('<hr style="border:0;border-top:1px solid #eee">')
    return "\n".join(parts)


def html_footer(rng, c):
    parts = []
    for f in c.footer:
        if f[0] == "p":
            parts.append(f'<p style="color:#999;font-size:12px">{esc(f[1])}</p>')
        elif f[0] in ("link", "unsub"):
            parts.append(f'<p style="color:#999;font-size:12px"><a href="{esc(f[2])}" style="color:#999">{esc(f[1])}</a></p>')
        elif f[0] == "social":
            icons = "".join(f'<a href="{esc(u)}"><img src="https://static.{c.domain}/icons/{n}.png" width="24" height="24" alt="{n}"></a> '
                            for n, u in f[1])
            parts.append(f"<p>{icons}</p>")
    return "\n".join(parts)


def html_body(rng, c, layout):
    """HTML rendering: `simple` (a few tags), `table` (the 600-pixel template most platforms
    use), or `rich` (hero image, preheader, social footer)."""
    color = rng.choice(["#1a73e8", "#e4572e", "#2a9d8f", "#111111", "#6c2bd9", "#d6336c", "#0b7a3e"])
    bstyle = c.button_style or rng.choice(BUTTON_STYLES)
    pre = ""
    if c.preheader and layout != "simple":
        pre = (f'<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">{esc(c.preheader)}'
               + "&nbsp;&zwnj;" * rng.randint(0, 30) + "</div>")
    body = html_blocks(rng, c, bstyle, color, layout == "rich")
    foot = html_footer(rng, c)
    pixel = c.pixel or ""
    if layout == "simple":
        head = rng.choice(["", f'<p><img src="https://static.{c.domain}/logo.png" alt="{esc(c.brand)}" height="32"></p>'])
        return f"<html><body>\n{head}{body}\n{foot}\n{pixel}</body></html>\n"
    logo = (f'<img src="https://{c.static_host}/img/logo{rng.choice(["", "-dark", "@2x"])}.png" '
            f'alt="{esc(c.brand)}" width="{rng.choice([120, 140, 160])}" style="display:block">')
    hero = ""
    if layout == "rich" and c.hero:
        hero = (f'<a href="{esc(c.hero[1])}"><img src="{esc(c.hero[0])}" width="600" alt="" '
                f'style="display:block;width:100%"></a>')
    view = ""
    if c.view_online:
        view = f'<p style="font-size:11px;text-align:center"><a href="{esc(c.view_online[1])}">{esc(c.view_online[0])}</a></p>'
    return f"""<!DOCTYPE html>
<html lang="{c.lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{esc(c.subject)}</title></head>
<body style="margin:0;padding:0;background:#f4f4f4">
{pre}{view}
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" bgcolor="#f4f4f4"><tr><td align="center">
<table role="presentation" width="600" cellpadding="24" cellspacing="0" bgcolor="#ffffff" style="font-family:Helvetica,Arial,sans-serif;color:#222">
<tr><td>{logo}</td></tr>
<tr><td>{hero}
{body}
</td></tr>
<tr><td>{foot}</td></tr>
</table></td></tr></table>
{pixel}</body></html>
"""
