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
store's query id and slot, so a rerun answers the same, whoever answers).
Standard library only.

With --as NAME it logs in as --user (an admin), creates the labeler NAME on
the admin page (POST /admin/labelers; the server shows the new random
password once), then logs in as NAME and answers as NAME: so several
scripted people can answer the same query (rlhf dpo -overlap). It stops
with an error if NAME is taken. When stopped it prints a tally naming the
user it answered as.

    python3 experiments/people/label.py --url http://127.0.0.1:18182 \
        --user admin --password demo-password
    python3 experiments/people/label.py --url http://127.0.0.1:18182 \
        --user admin --password demo-password --as person2
"""
import argparse
import html
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
    ap.add_argument("--as", dest="as_user", metavar="NAME",
                    help="create the labeler NAME as the admin --user, then answer as NAME")
    ap.add_argument("--letter", default="e")
    ap.add_argument("--rule", choices=["fewer", "lipogram"], default="fewer",
                    help="fewer: fewer letters; lipogram: higher lipogram score (the gold goal's)")
    ap.add_argument("--skip-every", type=int, default=0)
    ap.add_argument("--flip", type=float, default=0.0, help="probability of picking another completion than the rule's")
    ap.add_argument("--idle-poll", type=float, default=0.2, help="seconds to wait when there is no work")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped by run.sh: report, then exit

    web = opener()
    login(web, a.url, a.user, a.password)
    user = a.user
    if a.as_user is not None:
        password = invite(web, a.url, a.as_user)
        web = opener()  # a fresh cookie jar: a session of NAME's own
        login(web, a.url, a.as_user, password)
        user = a.as_user

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
        print("label.py: %s leased %d, answered %d (%d flipped), ties %d, skips %d"
              % (user, leased, answered, flipped, ties, skipped), file=sys.stderr)


def opener():
    """A URL opener with its own cookie jar (one browser, one session)."""
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def get_page(web, url):
    """The text of url, waiting up to 20 s for a server that may still be starting."""
    for _ in range(100):
        try:
            return web.open(url).read().decode()
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    sys.exit("label.py: no server at " + url)


def csrf_field(page, where):
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    if not m:
        sys.exit("label.py: %s has no csrf field" % where)
    return m.group(1)


def login(web, url, user, password):
    """Logs web in as user; waits out the server's login rate limit (429)."""
    for _ in range(20):
        form = urllib.parse.urlencode({"username": user, "password": password,
                                       "csrf": csrf_field(get_page(web, url + "/login"), "the login page")}).encode()
        try:
            web.open(url + "/login", form).read()
            return
        except urllib.error.HTTPError as e:
            if e.code != 429:
                sys.exit("label.py: cannot log in as %s: HTTP %d %s" % (user, e.code, page_notice(e)))
            time.sleep(float(e.headers.get("Retry-After") or 12))
    sys.exit("label.py: cannot log in as %s: still rate-limited" % user)


def invite(web, url, name):
    """Creates the labeler name through the admin page web is logged in to and
    returns the password the server shows once."""
    try:
        page = get_page(web, url + "/admin")
    except urllib.error.HTTPError as e:
        sys.exit("label.py: cannot open the admin page to create %s: HTTP %d %s" % (name, e.code, page_notice(e)))
    form = urllib.parse.urlencode({"username": name, "role": "labeler", "csrf": csrf_field(page, "the admin page")}).encode()
    try:
        page = web.open(url + "/admin/labelers", form).read().decode()
    except urllib.error.HTTPError as e:
        if e.code == 409:
            sys.exit("label.py: cannot create labeler %s: the username is taken (run it on a fresh store "
                     "or pick another --as)" % name)
        sys.exit("label.py: cannot create labeler %s: HTTP %d %s" % (name, e.code, page_notice(e)))
    m = re.search(r'<code class="secret" id="new-password">([^<]+)</code>', page)
    if not m:
        sys.exit("label.py: created labeler %s, but the admin page shows no new password" % name)
    return html.unescape(m.group(1))


def page_notice(err):
    """The alert or error text of an error page, for messages."""
    try:
        body = err.read().decode(errors="replace")
    except OSError:
        return ""
    m = re.search(r'role="alert"[^>]*>(.*?)</', body, re.S) or re.search(r'class="error"[^>]*>(.*?)</', body, re.S)
    return "(" + html.unescape(re.sub(r"\s+", " ", m.group(1)).strip()) + ")" if m else ""


def lipogram(text, letter, min_words=8):
    """rlhf's lipogram score (feedback/textscore.Lipogram): words are maximal
    runs of letters, compared in lower case."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    clean = {w for w in words if letter not in w}
    bad = sum(1 for w in words if letter in w)
    return (len(clean) - bad) / max(len(words), min_words)


if __name__ == "__main__":
    main()
