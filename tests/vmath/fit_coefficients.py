"""Coefficients and tables of src/vmath (exp family), derived here rather
than copied: `python3 tests/vmath/fit_coefficients.py` (needs mpmath)
prints the Rust constants.

- exp: x = (16 k + j) ln2/16 + r, |r| <= ln2/32 (plus rounding slack).
  exp(r) - 1 = r + r^2 q(r), q of degree 4 fitted by mpmath's Chebyshev
  approximation (near-minimax) of (exp(r) - 1 - r) / r^2 on the interval,
  coefficients rounded to f64.
- the table: 2^(j/16) as hi (rounded to f64) + lo (the rest, rounded).
"""
import struct

from mpmath import mp, mpf

mp.prec = 200
N = 16
A = float(mp.log(2) / (2 * N)) * 1.0001


def g(r):
    r = mpf(r)
    if r == 0:
        return mpf(1) / 2
    return (mp.exp(r) - 1 - r) / (r * r)


poly, err = mp.chebyfit(g, [-A, A], 5, error=True)
coeffs = [float(c) for c in poly]  # highest degree first
print("// q(r), highest degree first; fit error of q:", mp.nstr(err, 5),
      "so r^2 q off by", mp.nstr(err * A * A, 5))
for c in coeffs:
    print(f"    {c!r},")

# maximum error of the rounded polynomial, relative to exp(r)
worst = mpf(0)
for i in range(2001):
    r = mpf(-A) + 2 * mpf(A) * i / 2000
    q = mpf(0)
    for c in coeffs:
        q = q * r + mpf(c)
    e = abs((1 + r + r * r * q) - mp.exp(r)) / mp.exp(r)
    worst = max(worst, e)
print("// max relative error of 1 + r + r^2 q:", mp.nstr(worst, 5),
      "=", mp.nstr(mp.log(worst, 2), 5), "bits")

print("// 2^(j/16): hi, lo")
for j in range(N):
    t = mp.power(2, mpf(j) / N)
    hi = float(t)
    lo = float(t - mpf(hi))
    print(f"    ({hi!r}, {lo!r}),")
ln2n = mp.log(2) / N
# hi with 36 significant bits: m * hi exact for |m| < 2^17.
hi = float(ln2n)
b = struct.unpack("<Q", struct.pack("<d", hi))[0]
b &= ~((1 << (52 - 35)) - 1)
hi = struct.unpack("<d", struct.pack("<Q", b))[0]
lo = float(ln2n - mpf(hi))
print(f"// ln2/16 hi (36 bits) {hi!r} lo {lo!r}")
print(f"// 16/ln2 {float(N / mp.log(2))!r}")
