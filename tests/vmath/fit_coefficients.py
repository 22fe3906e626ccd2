"""Coefficients and tables of src/vmath (exp family), derived here rather
than copied: `python3 tests/vmath/fit_coefficients.py` (needs mpmath)
prints the Rust constants.

- exp: x = (16 k + j) ln2/16 + r, |r| <= ln2/32 (plus rounding slack).
  exp(r) - 1 = r + r^2 q(r), q of degree 5: a least-squares fit of
  exp(r) - 1 - r by r^2..r^7 on 400 Chebyshev nodes of the interval
  (near-minimax), coefficients rounded to f64; the script prints the
  maximum relative error of the rounded polynomial (2^-64.9).
- the table: 2^(j/16) as hi (rounded to f64) + lo (the rest, rounded).
"""
import struct

from mpmath import mp, mpf

mp.prec = 200
N = 16
A = float(mp.log(2) / (2 * N)) * 1.0001

M = 400
nodes = [mpf(A) * mp.cos(mp.pi * (i + mpf(1) / 2) / M) for i in range(M)]
K = 6  # q's coefficients: degree 5
AtA = mp.matrix(K, K)
Atb = mp.matrix(K, 1)
for x in nodes:
    row = [x ** (d + 2) for d in range(K)]
    b = mp.exp(x) - 1 - x
    for i in range(K):
        Atb[i] += row[i] * b
        for j in range(K):
            AtA[i, j] += row[i] * row[j]
sol = mp.lu_solve(AtA, Atb)
coeffs = [float(sol[i]) for i in reversed(range(K))]  # highest degree first
print("// q(r), highest degree first")
for c in coeffs:
    print(f"    {c!r},")

# maximum error of the rounded polynomial, relative to exp(r)
worst = mpf(0)
for i in range(4001):
    r = mpf(-A) + 2 * mpf(A) * i / 4000
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


def hl(name, v):
    hi = float(v)
    print(f"// {name} hi {hi!r} lo {float(v - mpf(hi))!r}")


hl("1/ln2", 1 / mp.log(2))
hl("log10(e)", 1 / mp.log(10))
v = mp.log10(2)
b = struct.unpack("<Q", struct.pack("<d", float(v)))[0] & ~((1 << 13) - 1)
hi = struct.unpack("<d", struct.pack("<Q", b))[0]
print(f"// log10(2) hi (40 bits) {hi!r} lo {float(v - mpf(hi))!r}")
