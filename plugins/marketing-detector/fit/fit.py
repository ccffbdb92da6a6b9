#!/usr/bin/env python3
"""Fits the marketing detector's weights on corpus/train and writes src/weights.rs.

    python3 fit/fit.py [--sluice PATH] [--plugin PATH] [--folds 5]

1. Feature vectors come from the plugin itself: `sluice replay --json` runs the training
   messages (corpus/train, corpus/retired and corpus/v1) through the built plugin with
   `features_header = true`, and each message's X-Sluice-Marketing-Features header is its
   vector (features.rs computes it, here and in the relay). corpus/heldout is never read.
2. An L2-regularised logistic regression is fitted, each weight kept to the side (marketing,
   transactional, either) SIGNS gives its feature, and pulled towards a weak prior on that
   side (PRIOR); the penalty is chosen by k-fold cross-validation with whole senders in
   each fold (lowest out-of-fold log loss).
3. The default threshold is the lowest score at which the out-of-fold predictions reach a
   precision of PRECISION_TARGET (a transactional message held back is the costly mistake),
   plus MARGIN points.
4. The model fitted on the whole training split is written to src/weights.rs, with the
   cross-validated precision and recall in its header.

Pure Python (no numpy): a few seconds for the corpus. Rebuild the plugin afterwards
(`cd plugins && cargo build --release`) and measure the held-out split with
`sluice replay --config fit/eval.toml --labels corpus/labels.csv corpus/heldout`.
"""

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(PLUGIN))
PRECISION_TARGET = 0.995
MARGIN = 0  # points above the threshold the folds needed (folds by sender are pessimistic already)
POINTS = 10.0  # points per unit of log-odds (lib.rs)
PENALTIES = [0.1, 0.3, 1.0, 3.0]


# What the fit learns from: the training split, the retired held-out split (evaluated once,
# then trained on), and the previous corpus (a different generator, other senders and
# habits), so the weights do not learn one generator's quirks; and their labels.
TRAINING = ["corpus/train", "corpus/retired", "corpus/v1"]
LABELS = ["corpus/labels.csv", "corpus/v1/labels.csv"]


def vectors(sluice, plugin):
    """(names, [(file, is_marketing, [values], sender)]) for the training messages, from the
    plugin's own X-Sluice-Marketing-Features header."""
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "fit.toml")
        with open(config, "w") as f:
            f.write(f'[[tenant]]\nname = "fit"\nsender_domains = ["fit.invalid"]\n'
                    f'[[tenant.plugin]]\nname = "marketing-detector"\npath = "{plugin}"\n'
                    f'[tenant.plugin.config]\nfeatures_header = "true"\n')
        labels = os.path.join(tmp, "labels.csv")
        with open(labels, "w") as out:
            for path in LABELS:
                with open(os.path.join(PLUGIN, path)) as f:
                    out.writelines(line for line in f if not line.startswith("file,"))
        out = subprocess.run([sluice, "replay", "--json", "--config", config, "--labels", labels,
                              *[os.path.join(PLUGIN, d) for d in TRAINING]],
                             capture_output=True, text=True, env={**os.environ, "SLUICE_LOG": "warn"})
        if out.returncode != 0:
            sys.exit(f"sluice replay failed:\n{out.stderr}")
    rows, names = [], None
    for m in json.loads(out.stdout)["messages"]:
        header = next(h["value"] for h in m["candidate"]["headers"] if h["name"] == "X-Sluice-Marketing-Features")
        pairs = [kv.split("=") for kv in header.split(",")]
        names = names or [k for k, _ in pairs]
        if m["label"] is None:
            sys.exit(f"{m['file']} has no label")
        domain = m["envelope"]["from"].rsplit("@", 1)[-1].lower()
        sender = ".".join(domain.split(".")[-2:])
        rows.append((m["file"], m["label"] == "marketing", [float(v) for _, v in pairs], sender))
    return names, rows


# What each feature may be evidence of, known before any fitting: +1 marketing only, -1
# transactional mail only, 0 either. The fit keeps each weight on its side (or at zero), so
# no signal argues the wrong way in a verdict's explanation, and list headers stay evidence
# that notification markers can outweigh rather than the other way round.
SIGNS = {
    "list-unsubscribe": +1, "one-click-unsubscribe": +1, "list-id": +1, "precedence-bulk": +1, "precedence-list": 0,
    "auto-submitted": -1, "thread": 0, "reply-subject": 0,
    "sender-noreply": 0, "sender-system": -1, "sender-promo": +1, "sender-promo-domain": +1, "sender-personal": +1,
    "subject-code": -1, "subject-percent": +1, "subject-exclaim": +1, "subject-emoji": +1, "subject-caps": +1,
    "has-html": 0, "text-size": 0, "link-density": +1, "link-hosts": 0, "image-density": 0, "large-images": +1,
    "tracking-pixel": +1, "click-tracking": +1, "utm": +1, "buttons": +1, "unsubscribe-link": +1, "unsubscribe-text": +1,
    "settings-link": -1, "social-links": +1, "hidden-text": +1, "prices": 0, "percentages": +1, "identifiers": -1,
    "questions": +1, "document": -1, "promo-code": +1, "token-links": -1,
    "reply-to-recipient": -1, "meeting-link": +1, "no-notice": +1,
    "links-without-notice": +1, "thread-without-notice": +1,
    "bulk-without-notice": +1,
}


# Where a weight sits before the corpus says otherwise: half a unit of log-odds (5 points) on
# its side for a signed feature, 0 for the others. The penalty pulls towards these, so a
# marker the corpus cannot separate from the others stays weak evidence rather than none.
PRIOR = 0.5


def sigmoid(z):
    return 1 / (1 + math.exp(-z)) if z > -30 else 0.0


def fit(xs, ys, penalty, signs, sweeps=300):
    """Logistic regression by cyclic coordinate descent (a Newton step per weight), with an L2
    penalty towards PRIOR × sign, each weight kept on the side its sign allows; x[0] is the
    intercept (free, not penalised)."""
    d, n = len(xs[0]), len(xs)
    cols = [[(i, x[j]) for i, x in enumerate(xs) if x[j]] for j in range(d)]
    w = [PRIOR * sg for sg in signs]
    w[0] = 0.0
    z = [sum(a * b for a, b in zip(w, x)) for x in xs]
    for _ in range(sweeps):
        biggest = 0.0
        for j in range(d):
            g = h = 0.0
            for i, xij in cols[j]:
                p = sigmoid(z[i])
                g += (p - ys[i]) * xij
                h += p * (1 - p) * xij * xij
            if j:
                g += penalty * (w[j] - PRIOR * signs[j])
                h += penalty
            new = w[j] - max(-2.0, min(2.0, g / max(h, 1e-9)))
            sign = signs[j]
            if (sign > 0 and new < 0) or (sign < 0 and new > 0):
                new = 0.0
            delta = new - w[j]
            if delta:
                w[j] = new
                for i, xij in cols[j]:
                    z[i] += delta * xij
                biggest = max(biggest, abs(delta))
        if biggest < 1e-5:
            break
    return w


def logloss(w, xs, ys):
    total = 0.0
    for x, y in zip(xs, ys):
        p = min(max(sigmoid(sum(a * b for a, b in zip(w, x))), 1e-12), 1 - 1e-12)
        total -= math.log(p) if y else math.log(1 - p)
    return total / len(xs)


def folds(groups, k, seed=16):
    """k folds of message indices, each sender in one fold only (as the held-out split keeps
    senders apart): messages of one sender share platform and habits, and a fold that saw
    some of them would flatter the others."""
    senders = sorted(set(groups))
    random.Random(seed).shuffle(senders)
    fold_of = {s: i % k for i, s in enumerate(senders)}
    return [[i for i, g in enumerate(groups) if fold_of[g] == f] for f in range(k)]


def score(w, x):
    """The plugin's score: each term rounded to points, as lib.rs adds them up."""
    return sum(round(a * b * POINTS) for a, b in zip(w, x))


def confusion(scores, ys, threshold):
    tp = sum(1 for s, y in zip(scores, ys) if s >= threshold and y)
    fp = sum(1 for s, y in zip(scores, ys) if s >= threshold and not y)
    fn = sum(1 for s, y in zip(scores, ys) if s < threshold and y)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, fp, fn


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", default=os.path.join(ROOT, "target/debug/sluice"))
    ap.add_argument("--plugin", default=os.path.join(ROOT, "target/wasm32-wasip2/release/marketing_detector.wasm"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--dry-run", action="store_true", help="report, do not write src/weights.rs")
    args = ap.parse_args()
    names, rows = vectors(args.sluice, args.plugin)
    unknown = [n for n in names if n not in SIGNS]
    if unknown:
        sys.exit(f"no sign for {unknown}: add them to SIGNS")
    signs = [0] + [SIGNS[n] for n in names]
    xs = [[1.0] + v for _, _, v, _ in rows]
    ys = [1 if y else 0 for _, y, _, _ in rows]
    print(f"{len(rows)} training messages ({sum(ys)} marketing) from {len(set(r[3] for r in rows))} senders, "
          f"{len(names)} features, {args.folds}-fold CV by sender")

    parts = folds([r[3] for r in rows], args.folds)
    best = None
    for penalty in PENALTIES:
        losses, oof = [], [0] * len(xs)
        for held in parts:
            hs = set(held)
            w = fit([x for i, x in enumerate(xs) if i not in hs], [y for i, y in enumerate(ys) if i not in hs], penalty, signs)
            losses.append(logloss(w, [xs[i] for i in held], [ys[i] for i in held]))
            for i in held:
                oof[i] = score(w, xs[i])
        loss = sum(losses) / len(losses)
        print(f"  penalty {penalty:<5} out-of-fold log loss {loss:.4f}")
        if best is None or loss < best[1]:
            best = (penalty, loss, oof)
    penalty, _, oof = best

    # The lowest threshold whose out-of-fold precision reaches the target, plus a margin.
    candidates = sorted(set(oof))
    needed = next((t for t in candidates if confusion(oof, ys, t)[0] >= PRECISION_TARGET), max(candidates) + 1)
    threshold = needed + MARGIN
    p, r, fp, fn = confusion(oof, ys, threshold)
    print(f"penalty {penalty}; out-of-fold precision {PRECISION_TARGET} from score {needed}; "
          f"default threshold {threshold}: precision {p:.3f} recall {r:.3f} ({fp} false positives, {fn} missed)")
    for i, held in enumerate(parts):
        fp_ = confusion([oof[j] for j in held], [ys[j] for j in held], threshold)
        print(f"  fold {i + 1}: precision {fp_[0]:.3f} recall {fp_[1]:.3f}")
    wrong = [(oof[i], rows[i][0]) for i in range(len(rows)) if (oof[i] >= threshold) != bool(ys[i])]
    for s, f in sorted(wrong):
        print(f"  wrong at {s:+4d}: {os.path.relpath(f, PLUGIN)}")

    w = fit(xs, ys, penalty, signs)
    order = sorted(range(len(names)), key=lambda i: -abs(w[i + 1]))
    print(f"bias {w[0]:+.3f}; strongest: " + ", ".join(f"{names[i]} {w[i + 1]:+.2f}" for i in order[:10]))
    if args.dry_run:
        return
    lines = [
        "//! Written by fit/fit.py from corpus/train, corpus/retired and corpus/v1; do not edit.",
        f"//! {len(rows)} messages ({sum(ys)} marketing), L2 penalty {penalty} chosen by {args.folds}-fold",
        "//! cross-validation by sender; out-of-fold at the default threshold:",
        f"//! precision {p:.3f}, recall {r:.3f}.",
        "",
        "/// The feature names these weights were fitted for (the order of `features::FEATURES`).",
        "#[cfg_attr(not(test), allow(dead_code))]",
        f"pub const NAMES: [&str; {len(names)}] = [",
        *[f'    "{n}",' for n in names],
        "];",
        "/// The intercept, in log-odds.",
        f"pub const BIAS: f32 = {w[0]:.4f};",
        "/// Log-odds per unit of each feature.",
        f"pub const WEIGHTS: [f32; {len(names)}] = [",
        *[f"    {w[i + 1]:.4f}, // {names[i]}" for i in range(len(names))],
        "];",
        "/// The default threshold, in points (tenths of log-odds).",
        f"pub const THRESHOLD: i32 = {threshold};",
        "",
    ]
    with open(os.path.join(PLUGIN, "src/weights.rs"), "w") as f:
        f.write("\n".join(lines))
    print("wrote src/weights.rs: rebuild the plugin (cd plugins && cargo build --release)")


if __name__ == "__main__":
    main()
