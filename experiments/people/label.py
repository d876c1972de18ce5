#!/usr/bin/env python3
"""A scripted labeler for rlhf serve: logs in like a person and answers text
comparisons through /api/next and /api/label until it is stopped (SIGTERM or
Ctrl-C) or the server goes away.

It prefers the completion with fewer letters `--letter` (default e), or with
--rule lipogram the one with the higher lipogram score (rlhf's lipogram goal:
distinct words without the letter minus words with it, over the number of
words, at least 8), calls equal values a tie, and skips every --skip-every'th
query it leases (0: never). With --flip P it picks another completion than
its rule's with probability P (a noisy person; the draw is seeded by the
store's query id and slot, so a rerun answers the same). Standard library
only.

    python3 experiments/people/label.py --url http://127.0.0.1:18182 \
        --user admin --password demo-password
"""
import argparse
import http.cookiejar
import json
import random
import re
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--letter", default="e")
    ap.add_argument("--rule", choices=["fewer", "lipogram"], default="fewer",
                    help="fewer: fewer letters; lipogram: higher lipogram score (the gold goal's)")
    ap.add_argument("--skip-every", type=int, default=0)
    ap.add_argument("--flip", type=float, default=0.0, help="probability of picking another completion than the rule's")
    ap.add_argument("--idle-poll", type=float, default=0.2, help="seconds to wait when there is no work")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped by run.sh: report, then exit

    jar = http.cookiejar.CookieJar()
    web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    for _ in range(100):  # the server may still be starting
        try:
            page = web.open(a.url + "/login").read().decode()
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    else:
        sys.exit("label.py: no server at " + a.url)
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    if not m:
        sys.exit("label.py: the login page has no csrf field")
    form = urllib.parse.urlencode({"username": a.user, "password": a.password, "csrf": m.group(1)}).encode()
    web.open(a.url + "/login", form)

    leased = answered = skipped = ties = flipped = 0
    try:
        while True:
            r = web.open(a.url + "/api/next")
            if r.status == 204:
                time.sleep(a.idle_poll)
                continue
            asg = json.load(r)
            leased += 1
            payload = asg["payload"]
            if a.rule == "lipogram":  # higher is better: negate, so that the least wins as below
                counts = [-lipogram(c, a.letter) for c in payload["completions"]]
            else:
                counts = [c.lower().count(a.letter) for c in payload["completions"]]
            best = min(counts)
            if a.skip_every and leased % a.skip_every == 0:
                choice = "skip"
                skipped += 1
            elif counts.count(best) > 1:
                choice = "tie"
                ties += 1
            else:
                choice = counts.index(best)
                if a.flip and random.Random("%d-%d" % (asg["query_id"], asg["slot"])).random() < a.flip:
                    others = [i for i in range(len(counts)) if i != choice]
                    choice = random.Random("%d-%d-other" % (asg["query_id"], asg["slot"])).choice(others)
                    flipped += 1
                answered += 1
            sub = {"query_id": asg["query_id"], "slot": asg["slot"], "choice": choice,
                   "client_key": "label-py-%d-%d" % (asg["query_id"], asg["slot"]), "duration_ms": 1000}
            req = urllib.request.Request(a.url + "/api/label", json.dumps(sub).encode(),
                                         {"Content-Type": "application/json", "X-CSRF-Token": asg["csrf"]})
            web.open(req).read()
    except KeyboardInterrupt:
        pass
    except urllib.error.URLError as e:
        print("label.py: server gone (%s)" % e.reason, file=sys.stderr)
    finally:
        print("label.py: leased %d, answered %d (%d flipped), ties %d, skips %d" % (leased, answered, flipped, ties, skipped),
              file=sys.stderr)


def lipogram(text, letter, min_words=8):
    """rlhf's lipogram score (feedback/textscore.Lipogram): words are maximal
    runs of letters, compared in lower case."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    clean = {w for w in words if letter not in w}
    bad = sum(1 for w in words if letter in w)
    return (len(clean) - bad) / max(len(words), min_words)


if __name__ == "__main__":
    main()
