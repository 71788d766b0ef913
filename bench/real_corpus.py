#!/usr/bin/env python3
"""bench/real_corpus.py: a benchmark corpus shaped like real traffic, built
from the real reports in ../shared/corpus (read in place, never copied into
the repository).

Usage: real_corpus.py CORPUS_DIR OUT_DIR [REPORTS] [SEED]

Every aggregate report of CORPUS_DIR/parsedmarc/aggregate that splits into
a header, <record> elements and a footer is a template (plain XML, gzip,
zip, or a mail with one of those attached). Each output report takes a
template's bytes as they are -- its element order, namespaces, indentation
and encoding -- with a new report_id and date range, and records cloned
from the template's own records with new source addresses and counts:

- report sizes are heavy-tailed: most reports hold a few records, some
  hundreds, a few thousands (a big receiver's daily report);
- big senders: runs of single-count records from many addresses of one
  provider's ranges (IPv4 and IPv6);
- forwarders: records whose SPF fails after forwarding (policy_evaluated
  spf and the SPF auth result set to fail), some with a `forwarded` reason;
- a few huge counts (hundreds of thousands of messages in one record).

Written as gzip (as Microsoft and Yahoo send) or zip (as Google sends).
Deterministic for a seed. Prints the number of reports and records.
"""

import email
import gzip
import io
import os
import random
import re
import sys
import zipfile

SKIP = ("invalid_",)  # broken on purpose: not a template


def payloads(path):
    """The report XML inside one corpus file, or None."""
    data = open(path, "rb").read()
    name = os.path.basename(path)
    if name.endswith(".eml"):
        msg = email.message_from_bytes(data)
        for part in msg.walk():
            fname = part.get_filename() or ""
            body = part.get_payload(decode=True)
            if body and re.search(r"\.(xml|gz|zip)$", fname, re.I):
                return unpack(fname, body)
        return None
    return unpack(name, data)


def unpack(name, data):
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                return z.read(z.namelist()[0])
    except Exception:
        return None
    return data if name.endswith(".xml") else None


RECORD = re.compile(rb"<(?:\w+:)?record>.*?</(?:\w+:)?record>", re.S)


def template(xml):
    recs = [m for m in RECORD.finditer(xml)]
    if not recs:
        return None
    head, foot = xml[: recs[0].start()], xml[recs[-1].end():]
    if not re.search(rb"<(?:\w+:)?report_id>", head) or not re.search(rb"<(?:\w+:)?begin>", head):
        return None
    return head, [m.group(0) for m in recs], foot


def sub_text(tag, value, text, count=1):
    pat = rb"(<(?:\w+:)?" + tag + rb">)[^<]*(</(?:\w+:)?" + tag + rb">)"
    return re.sub(pat, lambda m: m.group(1) + value + m.group(2), text, count=count)


def ipv4(rng, prefix):
    return (prefix + ".%d.%d" % (rng.randrange(256), rng.randrange(1, 255))).encode()


def big_sender_ip(rng):
    kind = rng.random()
    if kind < 0.4:
        return ipv4(rng, rng.choice(["40.107", "52.100", "40.92"]))  # Microsoft
    if kind < 0.7:
        return ipv4(rng, rng.choice(["209.85", "74.125"]))  # Google
    if kind < 0.85:
        return b"2a01:111:f400:%x::%x" % (rng.randrange(0x10000), rng.randrange(1, 0x10000))
    return b"2607:f8b0:4864:20::%x" % rng.randrange(1, 0x10000)


def forwarder(rec, rng):
    def fail_spf(m):
        pe = re.sub(rb"(<(?:\w+:)?spf>)\s*pass\s*(</)", rb"\1fail\2", m.group(0))
        if rng.random() < 0.5:
            pe = re.sub(
                rb"(</(?:\w+:)?policy_evaluated>)",
                rb"<reason><type>forwarded</type></reason>\1",
                pe,
            )
        return pe

    rec = re.sub(rb"<(?:\w+:)?policy_evaluated>.*?</(?:\w+:)?policy_evaluated>", fail_spf, rec, flags=re.S)

    def fail_auth(m):
        return re.sub(rb"(<(?:\w+:)?result>)\s*pass\s*(</)", rb"\1fail\2", m.group(0))

    return re.sub(rb"<(?:\w+:)?spf>\s*<(?:\w+:)?domain>.*?</(?:\w+:)?spf>", fail_auth, rec, flags=re.S)


def size(rng):
    x = rng.random()
    if x < 0.55:
        return rng.randint(1, 5)
    if x < 0.85:
        return rng.randint(6, 80)
    if x < 0.97:
        return rng.randint(100, 800)
    return rng.randint(2000, 6000)


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    reports = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    agg = os.path.join(corpus, "parsedmarc", "aggregate")
    templates = []
    for name in sorted(os.listdir(agg)):
        if name.startswith(SKIP):
            continue
        xml = payloads(os.path.join(agg, name))
        t = xml and template(xml)
        if t:
            templates.append((name, t))
    if not templates:
        sys.exit("no usable template in " + agg)
    os.makedirs(out, exist_ok=True)
    total = 0
    day0 = 1_767_225_600  # 2026-01-01
    for i in range(reports):
        name, (head, recs, foot) = templates[i % len(templates)]
        begin = day0 + 86400 * (i // len(templates))
        head = sub_text(rb"report_id", b"perf-%d-%d" % (i, rng.randrange(10**9)), head)
        head = sub_text(rb"begin", str(begin).encode(), head)
        head = sub_text(rb"end", str(begin + 86399).encode(), head)
        n = size(rng)
        body = []
        for _ in range(n):
            rec = rng.choice(recs)
            x = rng.random()
            if x < 0.65:  # a big sender: one message from one of many addresses
                ip, count = big_sender_ip(rng), 1
            elif x < 0.8:  # a forwarder
                ip, count = ipv4(rng, "198.51"), rng.randint(1, 30)
                rec = forwarder(rec, rng)
            elif x < 0.999:
                ip, count = ipv4(rng, "203.0"), rng.randint(1, 400)
            else:  # a huge count
                ip, count = ipv4(rng, "203.0"), rng.randint(100_000, 2_000_000)
            rec = sub_text(rb"source_ip", ip, rec)
            rec = sub_text(rb"count", str(count).encode(), rec)
            body.append(rec)
        total += n
        xml = head + b"\n".join(body) + foot
        base = re.sub(r"\.(xml|gz|zip|eml)", "", name)
        stem = "real-%03d-%s" % (i, re.sub(r"[^A-Za-z0-9.-]+", "_", base)[:40])
        if i % 3 == 2:
            with zipfile.ZipFile(os.path.join(out, stem + ".zip"), "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(stem + ".xml", xml)
        else:
            with open(os.path.join(out, stem + ".xml.gz"), "wb") as f:
                f.write(gzip.compress(xml, compresslevel=6, mtime=0))
    print(reports, total, len(templates))


if __name__ == "__main__":
    main()
