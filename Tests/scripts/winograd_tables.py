#!/usr/bin/env python3
"""The Winograd tables of Sources/CWinograd/winograd.c, built and checked in exact rational arithmetic.

F(m, r) on the finite points p_0..p_{α-2} plus the point at infinity (α = m + r − 1) is the
transpose of the polynomial product c = g·h (deg g = r − 1, deg h = m − 1) evaluated at the points
and interpolated back:
    E[j][n] = p_j^n (finite), E[∞] = e_{α−1};  Bᵀ = (E⁻¹)ᵀ;  G[j][k] = p_j^k, G[∞] = e_{r−1};
    Aᵀ[i][j] = p_j^i, Aᵀ[i][∞] = [i = m − 1];
so that y = Aᵀ[(G g) ⊙ (Bᵀ d)] is the correlation y_i = Σ_k g_k d_{i+k}. Each row of Bᵀ is scaled
to small integers and the factor moved into G's row.

Stride 2 (3 taps, m outputs from 2m + 1 inputs d_0 = x[2p0 − 1] … d_2m): y_i = g0 d_2i + g1 d_2i+1
+ g2 d_2i+2 splits into the odd samples o_k = d_2k (a 2-tap correlation with (g0, g2): F(m, 2),
m + 1 points) and the even samples e_i = d_2i+1 (one tap g1: m points, the identity). The tables
S_Bᵀ (2m+1)×(2m+1), S_G (2m+1)×3, S_Aᵀ m×(2m+1) put the odd points first.

    python3 Tests/scripts/winograd_tables.py          # builds the tables, checks them and winograd.c's exactly
    python3 Tests/scripts/winograd_tables.py --print  # the built tables as C
    python3 Tests/scripts/winograd_tables.py --error  # float32 error of the stride-2 point choices (NumPy)
"""
import sys
from fractions import Fraction as Fr


def solve_inverse(E):
    n = len(E)
    M = [row[:] + [Fr(int(i == j)) for j in range(n)] for i, row in enumerate(E)]
    for c in range(n):
        p = next(r for r in range(c, n) if M[r][c] != 0)
        M[c], M[p] = M[p], M[c]
        M[c] = [v / M[c][c] for v in M[c]]
        for r in range(n):
            if r != c and M[r][c] != 0:
                f = M[r][c]
                M[r] = [a - f * b for a, b in zip(M[r], M[c])]
    return [row[n:] for row in M]


def lcm(a, b):
    from math import gcd
    return a * b // gcd(a, b)


def toom_cook(m, r, points):
    """Bᵀ (α×α), G (α×r), Aᵀ (m×α) for F(m, r) on `points` (α − 1 finite) and infinity."""
    alpha = m + r - 1
    assert len(points) == alpha - 1
    pts = [Fr(p) for p in points]
    E = [[p ** n for n in range(alpha)] for p in pts] + [[Fr(int(n == alpha - 1)) for n in range(alpha)]]
    Einv = solve_inverse(E)
    BT = [[Einv[n][j] for n in range(alpha)] for j in range(alpha)]  # (E⁻¹)ᵀ
    G = [[p ** k for k in range(r)] for p in pts] + [[Fr(int(k == r - 1)) for k in range(r)]]
    AT = [[p ** i for p in pts] + [Fr(int(i == m - 1))] for i in range(m)]
    # Scale Bᵀ's rows to coprime integers; G's rows take the factor.
    for j in range(alpha):
        den = 1
        for v in BT[j]:
            den = lcm(den, v.denominator)
        nums = [v * den for v in BT[j]]
        from math import gcd
        g = 0
        for v in nums:
            g = gcd(g, int(v))
        scale = Fr(den, g)
        BT[j] = [v * scale for v in BT[j]]
        G[j] = [v / scale for v in G[j]]
    return BT, G, AT


def apply(AT, G, BT, g, d):
    u = [sum(G[j][k] * g[k] for k in range(len(g))) for j in range(len(G))]
    v = [sum(BT[j][n] * d[n] for n in range(len(d))) for j in range(len(BT))]
    return [sum(AT[i][j] * u[j] * v[j] for j in range(len(u))) for i in range(len(AT))]


def check_random(tables, taps, inputs, want, flip=False, seed=1):
    """apply(tables) equals want(g, d) on five random integer kernels g and inputs d (the kernel
    reversed first with `flip`)."""
    import random
    rnd = random.Random(seed)
    BT, G, AT = tables
    for _ in range(5):
        g = [Fr(rnd.randint(-9, 9)) for _ in range(taps)]
        d = [Fr(rnd.randint(-9, 9)) for _ in range(inputs)]
        assert apply(AT, G, BT, list(reversed(g)) if flip else g, d) == want(g, d)


def check_correlation(m, r, tables):
    check_random(tables, r, m + r - 1, lambda g, d: [sum(g[k] * d[i + k] for k in range(r)) for i in range(m)])


def stride2(m, points):
    """S_Bᵀ, S_G, S_Aᵀ of the stride-2 3-tap algorithm with m outputs (odd points first)."""
    BT2, G2, AT2 = toom_cook(m, 2, points)
    a = 2 * m + 1
    SBT = [[Fr(0)] * a for _ in range(a)]
    SG = [[Fr(0)] * 3 for _ in range(a)]
    SAT = [[Fr(0)] * a for _ in range(m)]
    for j in range(m + 1):  # odd points: F(m, 2) on o_k = d_2k with (g0, g2)
        for k in range(m + 1):
            SBT[j][2 * k] = BT2[j][k]
        SG[j][0], SG[j][2] = G2[j][0], G2[j][1]
        for i in range(m):
            SAT[i][j] = AT2[i][j]
    for i in range(m):  # even points: e_i = d_2i+1 times g1
        SBT[m + 1 + i][2 * i + 1] = Fr(1)
        SG[m + 1 + i][1] = Fr(1)
        SAT[i][m + 1 + i] = Fr(1)
    return SBT, SG, SAT


def check_stride2(m, tables):
    check_random(tables, 3, 2 * m + 1, lambda g, d: [sum(g[k] * d[2 * i + k] for k in range(3)) for i in range(m)], seed=2)


def stride2_transposed(m, points):
    """The stride-2 layer's input gradient (the transposed map) on the same points: from dy
    d_0..d_m (m + 1 values) to dx[2·s0 .. 2·s0 + 2m − 1] with the flipped kernel g' = (g2, g1, g0):
    dx_2i = g'1 d_i (even points), dx_2i+1 = g'0 d_i + g'2 d_i+1 (odd points: F(m, 2) with
    (g'0, g'2)). S_G is the forward's (on g'); T_Bᵀ (2m+1)×(m+1), T_Aᵀ 2m×(2m+1)."""
    BT2, _, AT2 = toom_cook(m, 2, points)
    _, SG, _ = stride2(m, points)
    a = 2 * m + 1
    TBT = [[Fr(0)] * (m + 1) for _ in range(a)]
    TAT = [[Fr(0)] * a for _ in range(2 * m)]
    for j in range(m + 1):
        TBT[j] = list(BT2[j])
        for i in range(m):
            TAT[2 * i + 1][j] = AT2[i][j]
    for i in range(m):
        TBT[m + 1 + i][i] = Fr(1)
        TAT[2 * i][m + 1 + i] = Fr(1)
    return TBT, SG, TAT


def check_transposed(m, tables):
    """The transposed tables give convᵀ with the kernel as stored (they take it flipped):
    dx[u] = Σ_{s, k: 2s + k − 1 = u} g_k dy[s] for u = 0..2m−1 (a tile starting at dx row 0) from dy[0..m]."""
    check_random(tables, 3, m + 1, lambda g, d: [sum(g[k] * d[s] for s in range(m + 1) for k in range(3) if 2 * s + k - 1 == u)
                                                 for u in range(2 * m)], flip=True, seed=3)


def stride2_groups(m):
    """Points (i, j) of the 9×9 (α = 2m + 1) stride-2 tile whose U = S_G w S_Gᵀ are equal: the even
    points' rows of S_G are all (0, 1, 0). Groups in slot order: even×even (m² points), then per odd
    i the even j (m each), per odd j the even i (m each), then each odd×odd point alone. Returns
    the slot of each point e = i·α + j, its group, and each group's (first slot, points)."""
    a, odd, even = 2 * m + 1, range(m + 1), range(m + 1, 2 * m + 1)
    groups = [[(i, j) for i in even for j in even]]
    groups += [[(i, j) for j in even] for i in odd]
    groups += [[(i, j) for i in even] for j in odd]
    groups += [[(i, j)] for i in odd for j in odd]
    slot, group, spans, next_slot = [0] * a * a, [0] * a * a, [], 0
    for g, points in enumerate(groups):
        spans.append((next_slot, len(points)))
        for (i, j) in points:
            slot[i * a + j], group[i * a + j] = next_slot, g
            next_slot += 1
    assert sorted(slot) == list(range(a * a))
    return slot, group, spans


def check_groups(m, tables, grouping):
    """Every point of a group has the same row pair of S_G (so the same U), and the groups are the
    classes of equal rows."""
    _, G, _ = tables
    slot, group, spans = grouping
    a = 2 * m + 1
    key = {}
    for e in range(a * a):
        rows = (tuple(G[e // a]), tuple(G[e % a]))
        key.setdefault(group[e], rows)
        assert key[group[e]] == rows, e
    assert len(set(key.values())) == len(spans)


def c_table(name, T):
    def lit(v):
        if v.denominator == 1:
            return str(v.numerator)
        return f"{v.numerator}.0f / {v.denominator}"
    rows = ", ".join("{" + ", ".join(lit(v) for v in row) + "}" for row in T)
    return f"static const float {name}[{len(T)}][{len(T[0])}] = {{{rows}}};"


STRIDE1 = {2: [0, 1, -1], 4: [0, 1, -1, 2, -2], 6: [0, 1, -1, 2, -2, Fr(1, 2), Fr(-1, 2)]}
STRIDE2 = {2: [0, 1], 4: [0, 1, -1, Fr(1, 2)]}


def error_study():
    import numpy as np
    rng = np.random.default_rng(0)
    C = 256
    for points in ([0, 1, -1, 2], [0, 1, -1, -2], [0, 1, -1, Fr(1, 2)], [0, 1, -1, Fr(-1, 2)]):
        BT, G, AT = (np.array([[float(v) for v in row] for row in T]) for T in stride2(4, points))
        d = rng.standard_normal((C, 9, 9))
        g = rng.standard_normal((C, 3, 3)) / np.sqrt(9 * C)
        want = sum(np.array([[np.sum(g[c] * d[c, 2 * i:2 * i + 3, 2 * j:2 * j + 3]) for j in range(4)] for i in range(4)])
                   for c in range(C))
        f = np.float32
        U = np.einsum("ja,cab,kb->cjk", G.astype(f), g.astype(f), G.astype(f))
        V = np.einsum("ja,cab,kb->cjk", BT.astype(f), d.astype(f), BT.astype(f))
        Mt = np.sum(U * V, axis=0, dtype=f)
        y = AT.astype(f) @ Mt @ AT.T.astype(f)
        print(f"points {[str(p) for p in points]}: max error {np.max(np.abs(y - want)) / np.max(np.abs(want)):.2e} of the output's scale")


def c_tables(path):
    """The `static const float NAME[R][C] = {...};` tables of a C file, as Fractions."""
    import re
    text = open(path).read()
    tables = {}
    for name, body in re.findall(r"static const float (\w+)\[\d+\]\[\d+\] = \{(.*?)\};", text, re.S):
        rows = re.findall(r"\{([^{}]*)\}", body)
        def value(term):
            parts = [t.strip().rstrip("f") for t in term.split("/")]
            v = Fr(parts[0])
            return v / Fr(parts[1]) if len(parts) == 2 else v
        tables[name] = [[value(t) for t in row.split(",")] for row in rows]
    return tables


def c_int_tables(path):
    """The `static const int NAME[...] = {...};` tables of a C file, flat or as rows."""
    import re
    tables = {}
    for name, dims, body in re.findall(r"static const int (\w+)((?:\[\d+\])+) = \{(.*?)\};", open(path).read(), re.S):
        rows = re.findall(r"\{([^{}]*)\}", body)
        tables[name] = ([[int(v) for v in r.split(",")] for r in rows] if rows
                        else [int(v) for v in body.split(",")])
    return tables


def main():
    built = {}
    for m, pts in STRIDE1.items():
        built[m] = toom_cook(m, 3, pts)
        check_correlation(m, 3, built[m])
    for m, pts in STRIDE2.items():
        check_correlation(m, 2, toom_cook(m, 2, pts))
        built[f"{m}S2"] = stride2(m, pts)
        check_stride2(m, built[f"{m}S2"])
        check_groups(m, built[f"{m}S2"], stride2_groups(m))
        built[f"{m}S2T"] = stride2_transposed(m, pts)
        check_transposed(m, built[f"{m}S2T"])
    if "--error" in sys.argv:
        error_study()
        return
    if "--print" in sys.argv:
        for key, (BT, G, AT) in built.items():
            print(c_table(f"BT{key}", BT)); print(c_table(f"AT{key}", AT))
            if not str(key).endswith("T"):
                print(c_table(f"G{key}", G))
        for m in STRIDE2:
            slot, group, spans = stride2_groups(m)
            print(f"static const int SLOT{m}S2[{len(slot)}] = {{{', '.join(map(str, slot))}}};")
            print(f"static const int GROUP{m}S2[{len(group)}] = {{{', '.join(map(str, group))}}};")
            print(f"static const int SPANS{m}S2[{len(spans)}][2] = {{{', '.join('{%d, %d}' % sp for sp in spans)}}};")
        return
    source = __file__.rsplit("/Tests/", 1)[0] + "/Sources/CWinograd/winograd.c"
    tables = c_tables(source)
    for m in STRIDE1:
        check_correlation(m, 3, (tables[f"BT{m}"], tables[f"G{m}"], tables[f"AT{m}"]))
    ints = c_int_tables(source)
    for m in STRIDE2:
        check_stride2(m, (tables[f"BT{m}S2"], tables[f"G{m}S2"], tables[f"AT{m}S2"]))
        check_transposed(m, (tables[f"BT{m}S2T"], tables[f"G{m}S2"], tables[f"AT{m}S2T"]))
        slot, group, spans = stride2_groups(m)
        assert ints[f"SLOT{m}S2"] == slot and ints[f"GROUP{m}S2"] == group, "slot or group table differs"
        assert [tuple(r) for r in ints[f"SPANS{m}S2"]] == spans, "span table differs"
    print(f"{source}: {len(tables)} tables, every algorithm exact")


if __name__ == "__main__":
    main()
