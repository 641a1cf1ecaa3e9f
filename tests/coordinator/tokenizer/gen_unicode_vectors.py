#!/usr/bin/env python3
"""Writes unicode_vectors.json next to this script: reference results from Python's
`unicodedata` and UTF-8 codec for the tokenizer's Unicode tests.

  nfc_single:  [[cp, "NFC(chr(cp))"], ...] for every code point whose NFC differs from itself
  nfc_strings: [["input", "NFC(input)"], ...] random mixes of starters, combining marks, Hangul
  lossy:       [["hex bytes", "bytes.decode('utf-8', 'replace')", first_error_offset|-1], ...]
"""

import json
import os
import random
import sys
import unicodedata

rng = random.Random(1234)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unicode_vectors.json")
    nfc_single = []
    decomposable = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        if unicodedata.normalize("NFC", ch) != ch:
            nfc_single.append([cp, unicodedata.normalize("NFC", ch)])
        if unicodedata.normalize("NFD", ch) != ch:
            decomposable.append(cp)

    marks = [cp for cp in range(0x300, 0x370)] + [0x093C, 0x094D, 0x0951, 0x05B0, 0x064B,
                                                    0x0650, 0x3099, 0x309A, 0x0F71, 0x0F72,
                                                    0x1DCE, 0x20D0, 0x0B3E, 0x0BBE, 0x0CD5]
    starters = [ord(c) for c in "aeiouAEIOUnNcCsSzZkKyY "] + [0x0928, 0x0B47, 0x0BC6, 0x0CBF,
                                                             0x304B, 0x30CF, 0x212B, 0x2126,
                                                             0x1100, 0x1161, 0x11A8, 0xAC00,
                                                             0xAC01, 0x0F40, 0x05D0, 0x0627]
    pool = marks + starters + rng.sample(decomposable, 200)
    nfc_strings = []
    for _ in range(1500):
        s = "".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 10)))
        nfc_strings.append([s, unicodedata.normalize("NFC", s)])
    # Hangul: every L+V and some L+V+T.
    for l in range(0x1100, 0x1113):
        for v in range(0x1161, 0x1176, 4):
            s = chr(l) + chr(v) + chr(rng.randint(0x11A7, 0x11C3))
            nfc_strings.append([s, unicodedata.normalize("NFC", s)])

    lossy = []
    interesting = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                   0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
    fixed = ["61f1808080e180c2628063" "80bf64", "eda080", "c080", "e08080", "f0808080",
             "f4908080", "f8888080", "e2", "e282", "e282ac", "f09f", "f09f98", "f09f9880",
             "ffe2ac", "c2", "edbfbf", "ef bf bd".replace(" ", "")]
    for h in fixed:
        b = bytes.fromhex(h)
        lossy.append([h, b.decode("utf-8", "replace"), first_error(b)])
    for _ in range(2000):
        b = bytes(rng.choice(interesting) if rng.random() < 0.7 else rng.randint(0, 255)
                  for _ in range(rng.randint(1, 9)))
        lossy.append([b.hex(), b.decode("utf-8", "replace"), first_error(b)])

    data = {
        "generator": "tests/coordinator/tokenizer/gen_unicode_vectors.py",
        "python": sys.version.split()[0],
        "unicode": unicodedata.unidata_version,
        "nfc_single": nfc_single,
        "nfc_strings": nfc_strings,
        "lossy": lossy,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("wrote", out, len(nfc_single), len(nfc_strings), len(lossy))


def first_error(b):
    try:
        b.decode("utf-8")
        return -1
    except UnicodeDecodeError as e:
        return e.start


if __name__ == "__main__":
    main()
