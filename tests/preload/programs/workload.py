# SPDX-License-Identifier: MIT
#
# workload.py - a deterministic, allocation-heavy Python run for
# tests/preload-programs.sh: big dicts and lists, bytes and bytearray
# buffers of 4 KiB..1 MiB (page-sized and larger requests reach the pool,
# lists past 4 MiB move to the C library by realloc), joins, sorts, JSON and
# zlib.  Prints counts and SHA-256 digests only: the same on every run.

import hashlib
import json
import random
import sys
import zlib

rng = random.Random(20240501)
total = hashlib.sha256()


def emit(name, value):
    """Print one result line and fold it into the overall digest."""
    line = "%s: %s" % (name, value)
    total.update(line.encode())
    print(line)


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


# Dicts: 200k string keys to tuples, then a dict of ints rebuilt from it.
d = {}
for i in range(200000):
    d["key-%07d-%x" % (i, rng.getrandbits(24))] = (i, i * i % 1000003, str(i))
inv = {v[1]: k for k, v in d.items()}
for k in list(d)[::3]:
    del d[k]
emit("dict", "%d entries, %d inverted" % (len(d), len(inv)))
emit("dict-digest", digest("".join(sorted(d)[:50000]).encode()))

# Lists: a million ints (an 8 MB array, grown by append), sorted and sliced.
nums = []
for _ in range(1000000):
    nums.append(rng.getrandbits(31))
nums.sort()
words = [("w%x" % n)[: 3 + n % 9] for n in nums[::7]]
words.sort(key=lambda w: (len(w), w))
emit("list", "%d nums, median %d, %d words" % (len(nums), nums[len(nums) // 2], len(words)))
emit("list-digest", digest(",".join(words).encode()))

# Bytes and bytearrays of 4 KiB .. 1 MiB: create, mutate, slice, join.
bufs = []
size = 4096
while size <= 1 << 20:
    for k in range(6):
        n = size + k * 1000
        b = rng.getrandbits(8 * n).to_bytes(n, "little")
        ba = bytearray(b)
        for j in range(0, n, 509):
            ba[j] = (ba[j] + j) & 0xFF
        ba.extend(b[: n // 3])
        del ba[: n // 5]
        bufs.append(bytes(ba))
    size *= 2
joined = b"".join(bufs)
pieces = joined.split(b"\x00\x00")
emit("bytes", "%d buffers, %d bytes joined, %d pieces" % (len(bufs), len(joined), len(pieces)))
emit("bytes-digest", digest(joined))

# Strings: join, split, replace, upper, formatted output.
text = "\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12))
text2 = text.replace("w1", "W-ONE").upper()
lines = text2.splitlines()
emit("text", "%d chars, %d lines, longest %d" % (len(text2), len(lines), max(map(len, lines))))
emit("text-digest", digest(text2.encode()))

# JSON round trip and zlib (its deflate state is a few hundred KiB).
obj = {
    "rows": [{"id": i, "name": "n%d" % i, "vals": list(range(i % 17))} for i in range(40000)],
    "meta": {"seed": 20240501, "bufs": len(bufs)},
}
js = json.dumps(obj, sort_keys=True, separators=(",", ":"))
back = json.loads(js)
z = zlib.compress(js.encode(), 6)
emit("json", "%d chars, %d rows back, round trip %s" % (len(js), len(back["rows"]), back == obj))
emit("zlib", "%d -> %d bytes, %s" % (len(js), len(z), zlib.decompress(z) == js.encode()))
emit("zlib-digest", digest(z))

# Everything freed, then built again smaller: the caches see reuse.
del d, inv, nums, words, bufs, joined, pieces, obj, back
again = [bytearray(4096 * (1 + i % 16)) for i in range(2000)]
emit("again", sum(len(b) for b in again))

print("total:", total.hexdigest())
sys.exit(0)
