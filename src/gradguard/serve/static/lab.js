/* gradguard explorer — the lab in the browser: exact rationals in BigInt.
 *
 * A port of the Python lab (gradguard.lab) and of what the explorer shows
 * (gradguard.serve.explorer_state): h_t = w·h_{t−1}, L = h_T,
 * ∂L/∂w = Σ h_{t−1}·w^(T−t) = T·w^(T−1)·h_0, the explosion table, the overflow
 * horizons, one SGD step and the seed's clipping g / max(1, |g|/c), and the
 * sentences that say them, filled from the message catalogs (GG.DATA, generated
 * from the catalog files when the page is built). tests/browser/test_explorer_parity.py
 * holds every number and sentence here to the Python reference.
 *
 * A classic script (no ES module): a page opened from file:// cannot import
 * modules. It defines the global GG.
 */
(function (root) {
  "use strict";
  const GG = root.GG || (root.GG = {});

  // ---------------------------------------------------------------- rationals
  /** An exact rational {n, d}: BigInt numerator and denominator, d > 0, lowest terms. */
  function gcd(a, b) {
    if (a < 0n) a = -a;
    if (b < 0n) b = -b;
    while (b) [a, b] = [b, a % b];
    return a;
  }
  function Q(n, d = 1n) {
    n = BigInt(n);
    d = BigInt(d);
    if (d === 0n) throw new Error("zero denominator");
    if (d < 0n) { n = -n; d = -d; }
    const g = gcd(n, d);
    return g > 1n ? { n: n / g, d: d / g } : { n, d };
  }
  const ZERO = Q(0n), ONE = Q(1n);
  // Reduced operands give reduced results with gcds of the factors only (Knuth 4.5.1):
  // a gcd of two huge numbers (Euclid, quadratic) is avoided wherever one side is small.
  function add(a, b) {
    const g = gcd(a.d, b.d);
    if (g === 1n) return { n: a.n * b.d + b.n * a.d, d: a.d * b.d };
    const t = a.n * (b.d / g) + b.n * (a.d / g);
    const g2 = gcd(t, g);
    return { n: t / g2, d: (a.d / g) * (b.d / g2) };
  }
  /**
   * n/d in lowest terms when every prime factor of d divides `base` (a small number):
   * gcd(n, d) is pulled out through gcd(n, base), one cheap big-by-small remainder at a
   * time — no Euclid on two huge numbers (quadratic, ~0.3 s at 9,000 digits).
   */
  function reduceSmooth(n, d, base) {
    if (n === 0n) return { n: 0n, d: 1n };
    for (;;) {
      const g = gcd(gcd(absBig(n) % base, base), d);
      if (g === 1n || g === 0n) return { n, d };
      n /= g;
      d /= g;
    }
  }
  const neg = (a) => ({ n: -a.n, d: a.d });
  const sub = (a, b) => add(a, neg(b));
  function mul(a, b) {
    const g1 = gcd(a.n, b.d), g2 = gcd(b.n, a.d);
    if (a.n === 0n || b.n === 0n) return { n: 0n, d: 1n };
    return { n: (a.n / g1) * (b.n / g2), d: (a.d / g2) * (b.d / g1) };
  }
  function div(a, b) {
    if (b.n === 0n) throw new Error("division by zero");
    return mul(a, b.n < 0n ? { n: -b.d, d: -b.n } : { n: b.d, d: b.n });
  }
  const absQ = (a) => (a.n < 0n ? neg(a) : a);
  const cmp = (a, b) => { const x = a.n * b.d - b.n * a.d; return x < 0n ? -1 : x > 0n ? 1 : 0; };
  const isInt = (a) => a.d === 1n;
  const sign = (a) => (a.n < 0n ? -1 : a.n > 0n ? 1 : 0);
  /** a^k for a whole k ≥ 0 (coprime n, d stay coprime: no reduction needed). */
  function powQ(a, k) {
    const e = BigInt(k);
    return { n: a.n ** e, d: a.d ** e };
  }
  const absBig = (n) => (n < 0n ? -n : n);
  function bitLength(n) {
    n = absBig(n);
    if (n === 0n) return 0;
    return n.toString(16).length * 4 - (Math.clz32(parseInt(n.toString(16)[0], 16)) - 28);
  }

  // ------------------------------------------------------------ float helpers
  /** The double nearest to n/d (ties to even), as Python's float(Fraction) gives it. */
  /** A float64's exact value: sign · mantissa · 2^exponent, read off its bits (NaN, ±inf: null). */
  function fromDouble(x) {
    if (!Number.isFinite(x)) return null;
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, x);
    const hi = view.getUint32(0), lo = view.getUint32(4), biased = (hi >>> 20) & 0x7ff;
    let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
    if (biased) m |= 1n << 52n; // a normal number's hidden bit
    const e = (biased || 1) - 1075;
    if (hi >>> 31) m = -m;
    return e >= 0 ? Q(m << BigInt(e)) : Q(m, 1n << BigInt(-e));
  }
  function toDouble(q) {
    if (q.n === 0n) return 0;
    const s = q.n < 0n ? -1 : 1, n = absBig(q.n), d = q.d;
    // scale so the quotient has 64+ bits; the sticky bit keeps the rounding exact
    const shift = 66 - (bitLength(n) - bitLength(d));
    const num = shift >= 0 ? n << BigInt(shift) : n;
    const den = shift >= 0 ? d : d << BigInt(-shift);
    let quo = num / den;
    if (quo * den !== num) quo |= 1n;
    // Number(BigInt) rounds to nearest even; 2^-shift is exact unless it leaves the range
    const v = Number(quo);
    if (shift > 1000 || shift < -1000) return s * v * 2 ** (-shift / 2) * 2 ** (-shift / 2);
    return s * v * 2 ** -shift;
  }
  /** Python's math.log10 of a positive int of any size. */
  function log10Int(n) {
    n = absBig(n);
    const bits = bitLength(n);
    if (bits <= 1023) return Math.log10(Number(n));
    // CPython: frexp to a 53-bit mantissa in [0.5, 1), rounded half to even, then
    // log10(x) + log10(2)·e
    const shift = bits - 55;
    let top = n >> BigInt(shift);
    if ((top << BigInt(shift)) !== n) top |= 1n;
    let x = Number(top) / 2 ** 55, e = bits;
    if (x === 1) { x = 0.5; e += 1; }
    return Math.log10(x) + Math.log10(2.0) * e;
  }
  /** gradguard.lab._numbers.log10_abs: log1p near |x| = 1 keeps the precision. */
  function log10Abs(q) {
    const a = absQ(q);
    if (!isInt(a)) {
      if (cmp(a, Q(1n, 2n)) > 0 && cmp(a, Q(2n)) < 0) return Math.log1p(toDouble(sub(a, ONE))) / Math.LN10;
      return log10Int(a.n) - log10Int(a.d);
    }
    return log10Int(a.n);
  }
  /** Python's f"{x:.{p}f}" of a double (correctly rounded, ties to even on exact binary ties). */
  function fixed(x, p) {
    let s = x.toFixed(p);
    // toFixed breaks exact ties upward; Python's formatting breaks them to even
    const scaled = x * 10 ** p;
    if (Number.isFinite(scaled) && Math.abs(scaled) < 2 ** 52 && Math.abs(scaled % 1) === 0.5) {
      const lo = Math.trunc(scaled), even = lo % 2 === 0 ? lo : lo + Math.sign(scaled);
      s = (even / 10 ** p).toFixed(p);
    }
    return s;
  }
  /** gradguard.lab._numbers.sci_from_log: "2.815e+16" from sign and log10 (floats). */
  function sciFromLog(sgn, lg, digits = 4) {
    if (sgn === 0) return "0";
    if (!Number.isFinite(lg)) return (sgn < 0 ? "-" : "") + (lg > 0 ? "inf" : "0");
    let exponent = Math.floor(lg);
    let mantissa = 10 ** (lg - exponent);
    if (Number(fixed(mantissa, digits - 1)) >= 10) { exponent += 1; mantissa /= 10; }
    return `${sgn < 0 ? "-" : ""}${fixed(mantissa, digits - 1)}e${exponent >= 0 ? "+" : "-"}${Math.abs(exponent)}`;
  }
  /** Python's f"{x:.3g}" for a positive finite double. */
  function pyG(x, p = 3) {
    if (x === 0) return "0";
    const e = Number(x.toExponential(p - 1).split("e")[1]);
    let s;
    if (e < -4 || e >= p) {
      const [m, ex] = x.toExponential(p - 1).split("e");
      const mm = m.includes(".") ? m.replace(/\.?0+$/, "") : m;
      const en = Number(ex);
      s = `${mm}e${en < 0 ? "-" : "+"}${String(Math.abs(en)).padStart(2, "0")}`;
    } else {
      s = x.toFixed(Math.max(0, p - 1 - e));
      if (s.includes(".")) s = s.replace(/\.?0+$/, "");
    }
    return s;
  }

  // ---------------------------------------------------------- exact decimals
  /** Round |q| correctly (half to even) to `digits` significant digits: "d.ddde±E". */
  function sciExact(q, digits = 4) {
    if (q.n === 0n) return "0";
    const s = q.n < 0n ? "-" : "";
    const n = absBig(q.n), d = q.d;
    // estimate the decimal exponent, then fix it with one exact comparison
    let e = Math.floor((bitLength(n) - bitLength(d)) * 0.30102999566398120);
    const ge = (k) => (k >= 0 ? n >= d * 10n ** BigInt(k) : n * 10n ** BigInt(-k) >= d); // |q| ≥ 10^k
    while (!ge(e)) e -= 1;
    while (ge(e + 1)) e += 1;
    const k = digits - 1 - e; // scale so that the integer part has `digits` digits
    const num = k >= 0 ? n * 10n ** BigInt(k) : n;
    const den = k >= 0 ? d : d * 10n ** BigInt(-k);
    let m = num / den;
    const r2 = 2n * (num - m * den);
    if (r2 > den || (r2 === den && m % 2n === 1n)) m += 1n;
    if (m === 10n ** BigInt(digits)) { m /= 10n; e += 1; }
    const t = m.toString();
    return `${s}${t[0]}.${t.slice(1)}e${e >= 0 ? "+" : "-"}${Math.abs(e)}`;
  }
  /** gradguard.lab._numbers.digits_of: the text length's estimate from bit lengths. */
  const intDigits = (n) => Math.max(1, Math.floor(bitLength(n) * 0.30102999566398120) + 1);
  const digitsOf = (q) => (isInt(q) ? intDigits(q.n) : intDigits(q.n) + intDigits(q.d) + 1);
  /** The exact JSON text: "80", "6/5". */
  const exactText = (q) => (isInt(q) ? q.n.toString() : `${q.n}/${q.d}`);
  /** gradguard.lab.exact_to_json(x, N): float-log abbreviation "≈1.268e+30" past N characters. */
  function exactToJson(q, abbreviate) {
    if (abbreviate !== undefined && digitsOf(q) > abbreviate) {
      return "≈" + sciFromLog(sign(q), log10Abs(q));
    }
    return exactText(q);
  }
  /** "≈1.268e+30" for an approximate (bounded-precision or long) value, correctly rounded. */
  const approxJson = (q) => (q.n === 0n ? "0" : "≈" + sciExact(q));

  // ------------------------------------------------------------- formatting
  const MAX_SHOWN_DIGITS = 40;
  function terminatingDecimal(q) {
    let d = q.d, twos = 0, fives = 0;
    // past 20 places the text is p/q whatever the count: stop there, not after 10,000 divisions
    while (d % 2n === 0n && twos <= 20) { d /= 2n; twos++; }
    while (d % 5n === 0n && fives <= 20) { d /= 5n; fives++; }
    const places = Math.max(twos, fives);
    if (d !== 1n || places > 20) return null;
    const scaled = (absBig(q.n) * 10n ** BigInt(places)) / q.d;
    const digits = scaled.toString().padStart(places + 1, "0");
    return `${q.n < 0n ? "-" : ""}${digits.slice(0, -places)}.${digits.slice(-places)}`;
  }
  function groupDigits(s) {
    const neg = s.startsWith("-"), body = neg ? s.slice(1) : s;
    return (neg ? "-" : "") + body.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  /** gradguard.explain._render._approx_long: from the first 17 digits, in floats. */
  function approxLong(v) {
    const sgn = v.startsWith("-") ? -1 : 1;
    const [num, den] = v.replace(/^-/, "").split("/");
    const log10Of = (digits) => Math.log10(Number(digits.slice(0, 17))) + digits.length - Math.min(digits.length, 17);
    const lg = log10Of(num) - (den ? log10Of(den) : 0.0);
    return "≈" + sciFromLog(sgn, lg);
  }
  /** x correctly rounded (half to even) to `sig` significant digits: {m: BigInt, e} with
   * x ≈ m·10^(e−sig+1), m of `sig` digits (Python's Decimal division at prec = sig). */
  function roundSig(q, sig) {
    const n = absBig(q.n), d = q.d;
    let e = Math.floor((bitLength(n) - bitLength(d)) * 0.30102999566398120);
    const ge = (k) => (k >= 0 ? n >= d * 10n ** BigInt(k) : n * 10n ** BigInt(-k) >= d);
    while (!ge(e)) e -= 1;
    while (ge(e + 1)) e += 1;
    const k = sig - 1 - e;
    const num = k >= 0 ? n * 10n ** BigInt(k) : n;
    const den = k >= 0 ? d : d * 10n ** BigInt(-k);
    let m = num / den;
    const r2 = 2n * (num - m * den);
    if (r2 > den || (r2 === den && m % 2n === 1n)) m += 1n;
    if (m === 10n ** BigInt(sig)) { m /= 10n; e += 1; }
    return { m, e, neg: q.n < 0n };
  }
  /** Decimal digits m·10^(p) written out plainly ("f" format), trailing zeros and "." dropped. */
  function plainDecimal(m, p, neg) {
    let t = m.toString();
    if (p >= 0) t = t + "0".repeat(p);
    else {
      const places = -p;
      t = t.padStart(places + 1, "0");
      t = t.slice(0, -places) + "." + t.slice(-places);
      t = t.replace(/0+$/, "").replace(/\.$/, "");
    }
    return (neg ? "-" : "") + t;
  }
  /** gradguard.explain._format._rounded: 6 significant digits (more if that reads as a whole number). */
  function rounded(q) {
    let sig = 6, r;
    for (;;) {
      r = roundSig(q, sig);
      const whole = sig - 1 - r.e <= 0 || r.m % 10n ** BigInt(sig - 1 - r.e) === 0n;
      if (!whole || r.e >= 6 || sig > 60) break;
      sig += 4;
    }
    if (r.e >= -3 && r.e <= 5) return plainDecimal(r.m, r.e - sig + 1, r.neg);
    return `${plainDecimal(r.m, -(sig - 1), r.neg)} × 10^${r.e}`;
  }
  /** gradguard.explain._format._approx_mark: "≈ 0.1235" for 10^-3…10^5, else "≈ 1.235 × 10^-7". */
  function approxMark(mant, exp) {
    if (exp >= -3 && exp <= 5 && exp !== 0) {
      const neg = mant.startsWith("-"), body = neg ? mant.slice(1) : mant;
      const [ip, fp = ""] = body.split(".");
      mant = plainDecimal(BigInt(ip + fp), exp - fp.length, neg);
      exp = 0;
    }
    return exp === 0 ? `≈ ${mant}` : `≈ ${mant} × 10^${exp}`;
  }
  /** gradguard.explain._format.exact_text: a terminating decimal, else p/q. */
  function exactTextOf(x) {
    if (isInt(x)) return x.n.toString();
    const dec = terminatingDecimal(x);
    return dec !== null ? dec : `${x.n}/${x.d}`;
  }
  /** gradguard.explain.format_number: "6/5" → "1.2", long fractions "≈ 47.2303", "≈1.3e+30" → "≈ 1.3 × 10^30". */
  function formatNumber(v, group = false, lang = "en") {
    const out = formatNumberOnly(v, group, lang);
    if (out.startsWith("≈") && /^-?\d+(\/\d+)?$/.test(v)) {
      const [p, q] = v.split("/");
      noteExact(out, Q(BigInt(p), BigInt(q || "1")));
    }
    return out;
  }
  /**
   * The exact value behind each rounded number shown ("≈ 47.2304" → "99049307841/2097152000"),
   * for the page to put one hover or focus away (page.js: carryExact), as the HTML report's
   * title does (gradguard.report._lesson.num). A shown text two different values round to
   * carries none rather than a wrong one. Each is an entry {get, digits}: ``get()`` the
   * exact value, ``digits`` its text's length estimated from bit lengths (never below it);
   * the text is written only when asked for (exactShort, exactFull), as a 9,000-digit
   * value's text takes milliseconds.
   */
  const EXACTS = new Map();
  /** Exact texts up to this many characters go in a title; longer ones open in full on a click. */
  const EXACT_TITLE = 1000;
  /** Past this many digits (estimated) the page does not write the exact value (gradguard.lab.MAX_DIGITS is 10^6). */
  const EXACT_PAGE_MAX = 100000;
  const exactEntry = (q) => ({ get: () => q, q, digits: digitsOf(q) });
  const lazyEntry = (get, digits) => ({ get, digits });
  function noteExact(shown, q) { noteEntry(shown, exactEntry(q)); }
  function noteEntry(shown, entry) {
    const key = shown.replace(/ \(.*\)$/, ""); // "≈ 1.2 × 10^50 (51 digits)": the number only
    if (!EXACTS.has(key)) { EXACTS.set(key, entry); return; }
    const had = EXACTS.get(key);
    // two values behind one text: none, unless both are at hand and equal (a lazy one is not
    // computed here); Q keeps fractions reduced, so equal values have equal parts — compared
    // in linear time, not by cross-multiplying two 9,000-digit fractions
    const same = had !== null && had.q !== undefined && entry.q !== undefined
      && (had.q === entry.q || (had.q.n === entry.q.n && had.q.d === entry.q.d));
    if (had !== null && !same) EXACTS.set(key, null);
  }
  /** The exact text of an entry while it fits a title (EXACT_TITLE characters), else null. */
  function exactShort(entry) {
    if (entry.digits > EXACT_TITLE + 2) return null;
    if (entry.text === undefined) entry.text = exactTextOf(entry.get());
    return entry.text.length <= EXACT_TITLE ? entry.text : null;
  }
  /** The exact text of an entry in full, or null past EXACT_PAGE_MAX digits (too long to compute here). */
  function exactFull(entry) {
    if (entry.digits > EXACT_PAGE_MAX) return null;
    if (entry.text === undefined) entry.text = exactTextOf(entry.get());
    return entry.text;
  }
  function formatNumberOnly(v, group, lang) {
    if (v.startsWith("≈") && v.includes("e")) {
      const [mant, exp] = v.slice(1).split("e");
      const text = approxMark(mant, Number(exp));
      return group ? grouped(text) : text; // ≈ -1,000 (10^3 written out)
    }
    if (v.length > MAX_SHOWN_DIGITS + 2 && /\d$/.test(v)) {
      const digits = v.includes("/") ? null : v.replace(/^-/, "").length;
      const text = formatNumber(approxLong(v), group);
      if (digits === null) return text;
      return `${text} (${say(lang, "numbers_digits", { n: groupDigits(String(digits)) })})`;
    }
    const [p, q] = v.split("/");
    const x = Q(BigInt(p), BigInt(q || "1"));
    if (isInt(x)) return group ? groupDigits(x.n.toString()) : x.n.toString();
    const text = exactTextOf(x);
    const isDecimal = !text.includes("/");
    const size = isDecimal ? text.replace(/^-/, "").length : `${absBig(x.n)}/${x.d}`.length;
    const shown = size <= (isDecimal ? 16 : 12) ? text : "≈ " + rounded(x);
    return group ? grouped(shown) : shown;
  }
  /** gradguard.explain._format._grouped: a decimal's integer part grouped (≈ -44,336.8), not p/q. */
  function grouped(text) {
    if (text.includes("/")) return text;
    return text.replace(/(?<![\d.,^/])(?<!\^-)\d{4,}/g, (m) => groupDigits(m)); // not 10^-1003
  }
  /** gradguard.report._lesson.tidy: "x = ≈ 1.2" → "x ≈ 1.2". */
  function tidy(text) {
    for (const [a, b] of [["= ≈ ", "≈ "], ["× ≈ ", "× "], ["+ ≈ ", "+ "], ["− ≈ ", "− "]]) text = text.split(a).join(b);
    return text;
  }
  /** gradguard.report._lesson.factor: a shown factor in parentheses when negative or × 10^k. */
  function factor(text) {
    const bare = text.replace(/^≈ /, "");
    return bare.startsWith("-") || text.includes(" × 10^") ? `(${bare})` : text;
  }
  /** gradguard.report._lesson.base: a shown base in parentheses unless a whole number ≥ 0. */
  function base(text) {
    return /^\d[\d,]*$/.test(text) ? text : `(${text.replace(/^≈ /, "")})`;
  }
  /** gradguard.explain._render.count: "1,016"; from 10^15 on "≈ 1.798 × 10^308". */
  function count(n) {
    if (n === null) return "";
    const b = BigInt(n);
    if (absBig(b) < 10n ** 15n) return groupDigits(b.toString());
    const out = formatNumber("≈" + sciExact(Q(b)));
    noteExact(out, Q(b));
    return out;
  }

  // ---------------------------------------------------------------- catalogs
  /** The catalog's text for `key` in `lang`, {name} fields filled (others left as written). */
  function say(lang, key, values = {}) {
    const text = GG.DATA.catalogs[lang][key]; // every language has every key (page_data)
    if (text === undefined) throw new Error(`no catalog key ${key} in ${lang}`);
    // as gradguard.report._i18n.t: named fields only, and {n:one|other} a count's form
    return text.replace(/\{([A-Za-z_0-9]+)(?::([^{}|]*\|[^{}]*))?\}/g, (m, k, forms) => {
      if (!(k in values)) return m;
      if (forms === undefined) return String(values[k]);
      const [one, other] = forms.split("|");
      return String(values[k]).trim() === "1" ? one : other;
    });
  }

  /** Python's str.format with named fields ({{ and }} are literal braces). */
  function pyFormat(tpl, fields) {
    // {n:one|other}: a count's form, as gradguard._catalog.fill ("{T} term{T:|s}")
    return tpl.replace(/\{\{|\}\}|\{([A-Za-z_0-9]+)(?::([^{}|]*\|[^{}]*))?\}/g, (m, k, forms) => {
      if (m === "{{") return "{";
      if (m === "}}") return "}";
      if (!(k in fields)) throw new Error(`no value for {${k}}`);
      if (forms !== undefined) {
        const [one, other] = forms.split("|");
        return String(fields[k]).trim() === "1" ? one : other;
      }
      return fields[k];
    });
  }
  /** The lesson catalog's message `id` ("regime.exploding") in `lang`. */
  function lessonText(lang, id) {
    const cat = GG.DATA.lesson[lang];
    return id in cat ? cat[id] : GG.DATA.lesson.en[id];
  }

  // ------------------------------------------------------------------ claims
  /** gradguard.explain._claims.argmax_T: the whole T ≥ 1 where T·a^(T−1) is largest (0 < a < 1). */
  function argmaxT(a) {
    const r = div(a, sub(ONE, a));
    if (isInt(r)) return cmp(r, ONE) < 0 ? [1] : [Number(r.n), Number(r.n) + 1];
    return [Math.max(1, Number((r.n + r.d - 1n) / r.d))];
  }
  /** gradguard.lab.numbers.power_log: factor·w^power·h0 as [sign, log10] (floats). */
  function powerLog(w, h0, power, factor) {
    const s = h0.n === 0n || (w.n === 0n && power > 0) ? 0 : sign(h0) * (sign(w) < 0 && power % 2 === 1 ? -1 : 1);
    if (s === 0) return [0, -Infinity];
    const lw = power === 0 ? 0.0 : power * log10Abs(w);
    return [s, Math.log10(factor) + lw + log10Abs(h0)];
  }
  /** gradguard.explain._claims._grad_json: T·w^(T−1)·h0, exact while short, else from logs. */
  /** ``v`` (a claim's JSON value); an abbreviated one's exact value (``exact()``) noted for the page. */
  function noted(v, exact, digits) {
    if (v.startsWith("≈")) {
      noteEntry(formatNumber(v, true), digits === undefined ? exactEntry(exact()) : lazyEntry(exact, digits));
    }
    return v;
  }
  function gradJson(w, h0, T, abbreviate) {
    const limit = abbreviate === undefined ? 60 : abbreviate;
    if (estimateDigits(w, h0, T - 1, T) <= limit) return exactText(gradient(w, h0, T));
    const [sg, lg] = powerLog(w, h0, T - 1, T);
    return sg === 0 ? "0" : "≈" + sciFromLog(sg, lg);
  }
  /**
   * gradguard.explain._claims.claims: which sentence is true for these parameters, decided
   * exactly — [{id, values}] in the lesson's topic order. The conditions are the Python
   * module's table, one for one (tests/browser/test_explorer_parity.py holds them to it).
   */
  function claims(w, h0, T, eta, c, tableT, abbreviate, g) {
    const a = absQ(w);
    const j = (x) => noted(exactToJson(x, abbreviate), () => x);
    // a claim's values from exact ones: each Q written as the claim writes it (j), its exact
    // value kept beside (FIELD_EXACTS) for the page to tell two values that round alike apart
    const V = (fields) => {
      const values = {}, exact = {};
      for (const [k, x] of Object.entries(fields)) {
        if (x !== null && typeof x === "object" && typeof x.n === "bigint") { values[k] = j(x); exact[k] = exactEntry(x); }
        else values[k] = x;
      }
      FIELD_EXACTS.set(values, exact);
      return values;
    };
    const out = [];
    let kind, vals;
    if (h0.n === 0n) [kind, vals] = ["zero_h0", {}];
    else if (w.n === 0n) [kind, vals] = ["zero_w", V({ h0 })];
    else if (cmp(a, ONE) > 0) [kind, vals] = ["exploding", V({ a })];
    else if (cmp(a, ONE) === 0) [kind, vals] = ["linear", V({ T, grad_abs: absQ(g) })];
    else [kind, vals] = ["vanishing", V({ a })];
    out.push({ id: `regime.${kind}`, values: vals });
    let peaks = [];
    if (kind === "vanishing") {
      peaks = argmaxT(a);
      const ln = log10Abs(a) * Math.log(10);
      const real = ln !== 0 ? -1.0 / ln : peaks[0];
      if (peaks.length === 1 && peaks[0] === 1) out.push({ id: "peak.at_once", values: { peak: 1 } });
      else if (peaks.length === 2 && peaks[0] === 1) out.push({ id: "peak.tie_at_once", values: { peak: 1, peak2: 2 } });
      else if (peaks.length === 1) out.push({ id: "peak.rise", values: { peak: peaks[0], peak_real: { float: real } } });
      else out.push({ id: "peak.rise_tie", values: { peak: peaks[0], peak2: peaks[1] } });
    }
    const steps = { T, T_next: T + 1 };
    if (h0.n !== 0n && w.n === 0n && T === 1) out.push({ id: "next_T.to_zero", values: V({ ...steps, h0 }) });
    else if (g.n === 0n) out.push({ id: "next_T.zero", values: steps });
    else {
      const q = mul(Q(BigInt(T + 1), BigInt(T)), a);
      const k = cmp(q, ONE) > 0 ? "grows" : cmp(q, ONE) === 0 ? "same" : "shrinks";
      out.push({ id: `next_T.${k}`, values: V({ ...steps, q }) });
    }
    if (sign(w) < 0 && h0.n !== 0n) out.push({ id: "alternating.signs", values: {} });
    if (kind === "exploding" && cmp(absQ(g), mul(Q(10n), absQ(h0))) >= 0) out.push({ id: "large.big", values: {} });
    const rows = [...new Set(tableT)].sort((x, y) => x - y);
    if (kind !== "vanishing") out.push({ id: `trend.${kind}`, values: {} });
    else if (!rows.length || rows[0] >= peaks[peaks.length - 1]) out.push({ id: "trend.vanishing", values: {} });
    else if (peaks.length === 1) out.push({ id: "trend.vanishing_peak", values: { peak: peaks[0] } });
    else out.push({ id: "trend.vanishing_peak_tie", values: { peak: peaks[0], peak2: peaks[1] } });
    const step = mul(eta, g), wNew = sub(w, step), aNew = absQ(wNew);
    const moved = V({ a, a_new: aNew, step, step_abs: absQ(step), w_new: wNew });
    if (g.n === 0n) out.push({ id: "update.none", values: V({ w }) });
    else if (w.n === 0n) out.push({ id: "update.from_zero", values: V({ grad: g, w_new: wNew }) });
    else if (sign(g) !== sign(w)) out.push({ id: "update.away", values: moved });
    else {
      const size = absQ(step), two = mul(Q(2n), a);
      const k = cmp(size, a) < 0 ? "toward" : cmp(size, a) === 0 ? "to_zero" : cmp(size, two) < 0
        ? "crossed_smaller" : cmp(size, two) === 0 ? "crossed_same" : "crossed_larger";
      out.push({ id: `update.${k}`, values: moved });
    }
    if (h0.n !== 0n && g.n !== 0n) {
      let k;
      if (cmp(a, ONE) > 0 && cmp(aNew, ONE) > 0) k = cmp(aNew, a) > 0 ? "faster" : cmp(aNew, a) === 0 ? "same" : "slower";
      else if (cmp(aNew, ONE) > 0) k = "now_explodes";
      else if (cmp(aNew, ONE) === 0) k = "linear";
      else if (aNew.n !== 0n) k = "vanishing";
      else k = "zero";
      const gradNew = noted(gradJson(wNew, h0, T, abbreviate), () => gradient(wNew, h0, T), estimateDigits(wNew, h0, T - 1, T));
      const newEntry = lazyEntry(() => gradient(wNew, h0, T), estimateDigits(wNew, h0, T - 1, T));
      const after = V({ a, a_new: aNew, w_new: wNew, T, grad: g });
      after.grad_new = gradNew;
      FIELD_EXACTS.get(after).grad_new = newEntry;
      out.push({ id: `after_update.${k}`, values: after });
      const same = cmp(wNew, neg(w)) === 0 && T % 2 === 1; // g(−w) = g(w) for odd T
      const compared = V({ T, grad: g });
      compared.grad_new = gradNew;
      FIELD_EXACTS.get(compared).grad_new = newEntry;
      if (T >= 2) out.push({ id: same ? "compare.same" : "compare.at_T", values: compared });
    }
    const gc = cmp(absQ(g), c) <= 0 ? g : sign(g) < 0 ? neg(c) : c;
    const clipVals = V({ g, g_abs: absQ(g), c, gc, w_new: sub(w, mul(eta, gc)) });
    out.push({ id: cmp(absQ(g), c) > 0 ? "clipping.acted" : "clipping.idle", values: clipVals });
    out.push({ id: `example.${kind}`, values: "a" in vals ? V({ a }) : {} });
    return out;
  }
  /** Python's round() of a float to an int: halves to even. */
  function roundHalfEven(x) {
    const f = Math.floor(x), r = x - f;
    if (r > 0.5) return f + 1;
    if (r < 0.5) return f;
    return f % 2 === 0 ? f : f + 1;
  }
  /** gradguard.explain._claims.say: the claim's catalog sentence with its values written. */
  function sayClaim(claim, lang) {
    const fields = {}, exact = FIELD_EXACTS.get(claim.values) || {};
    for (const [k, v] of Object.entries(claim.values)) {
      if (typeof v === "number") fields[k] = count(v);
      else if (typeof v === "object") {
        const f = v.float;
        fields[k] = !Number.isFinite(f) ? "∞" : f < 100 ? pyG(f, 3) : count(roundHalfEven(f));
      } else fields[k] = formatNumber(v, true, lang); // 1,024: prose groups as tables do
    }
    const tpl = lessonText(lang, claim.id), text = pyFormat(tpl, fields);
    // the sentence's rounded numbers and their exact values, in the order the sentence has them
    const rounded = [];
    for (const m of tpl.matchAll(/\{\{|\}\}|\{([A-Za-z_0-9]+)(?::[^{}|]*\|[^{}]*)?\}/g)) {
      const k = m[1];
      if (k && exact[k] && typeof fields[k] === "string" && fields[k].startsWith("≈")) rounded.push([fields[k], exact[k]]);
    }
    if (rounded.length) SAID.set(text, rounded);
    return text;
  }
  /**
   * What claims' values are, exactly: values object → {field: entry}; and each sentence said
   * → its rounded numbers [[shown, entry]] in order — so that two values the page shows alike
   * ("|η·g| ≈ 2.030 × 10^352", "|w_new| ≈ 2.030 × 10^352") each carry their own (page.js: exactNodes).
   */
  const FIELD_EXACTS = new WeakMap(), SAID = new Map();
  /** gradguard.report._lesson.said: the sentences on `topics`, in that order. */
  function said(found, topics, lang) {
    const byTopic = {};
    for (const c of found) byTopic[c.id.split(".")[0]] = c;
    return topics.filter((t) => t in byTopic).map((t) => sayClaim(byTopic[t], lang));
  }
  /** gradguard.report._lesson.erratum: the seed's erratum, the lesson's own text. */
  const erratum = (kind, lang) => `${lessonText(lang, "errata.heading")}: ${lessonText(lang, `errata.${kind}`)}`;
  const WHY_TOPICS = ["regime", "peak", "next_T", "alternating"], SGD_TOPICS = ["update", "after_update", "compare"];

  // ------------------------------------------------------------ input errors
  class InputError extends Error {
    constructor(argument, value, rule, fields = {}) {
      super(`${argument}: ${rule}`);
      this.argument = argument;
      this.value = value;
      this.rule = rule;
      this.fields = fields;
    }
    /** The one-line message in `lang`, from the generated error templates. */
    message_(lang) {
      const tpl = GG.DATA.errors[lang][this.argument + ":" + this.rule];
      return tpl.split("\u0000").join(this.shown());
    }
    shown() {
      // Python's repr of a str (the page's inputs are strings), or str() of a number
      if (typeof this.value !== "string") return this.value.str ?? String(this.value);
      const v = this.value;
      if (v.includes("'") && !v.includes('"')) return `"${v}"`;
      return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
    }
  }
  /** Digits of any script → Latin (Python's int() and re's \d read them all; here Bengali). */
  function latinDigits(s) {
    return s.replace(/[\u09E6-\u09EF]/g, (c) => String(c.charCodeAt(0) - 0x09e6));
  }
  const WHOLE = /^[+-]?\d+$/, RATIO = /^[+-]?\d+\s*\/\s*[+-]?\d+$/;
  const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
  const MAX_EXPONENT = 4000;
  /** gradguard.lab.to_exact for text: "0.9" → 9/10, "1e-3" → 1/1000, "3/7" → 3/7, exactly. */
  function toExact(text, name) {
    const s = latinDigits(String(text).trim()).split("_").join("");
    if (WHOLE.test(s)) return Q(BigInt(s));
    if (RATIO.test(s)) {
      const [p, q] = s.split("/").map((x) => BigInt(x.trim()));
      if (q === 0n) throw new InputError(name, text, "fraction");
      return Q(p, q);
    }
    if (DECIMAL.test(s)) {
      const m = /e([+-]?\d+)$/i.exec(s);
      const exp = m ? Number(m[1]) : 0;
      if (Math.abs(exp) > MAX_EXPONENT) throw new InputError(name, text, "exponent", { limit: MAX_EXPONENT });
      const mant = m ? s.slice(0, m.index) : s;
      const neg = mant.startsWith("-");
      const [ip, fp = ""] = mant.replace(/^[+-]/, "").split(".");
      let q = Q(BigInt((ip || "0") + fp) * (neg ? -1n : 1n), 10n ** BigInt(fp.length));
      q = exp >= 0 ? mul(q, Q(10n ** BigInt(exp))) : div(q, Q(10n ** BigInt(-exp)));
      return q;
    }
    throw new InputError(name, text, "number");
  }
  /** gradguard._validate.check_whole for text, with a range. */
  function checkWhole(text, name, min, max) {
    const s = latinDigits(String(text).trim()).split("_").join("");
    if (!WHOLE.test(s)) throw new InputError(name, text, "whole_range", { min, max });
    const v = BigInt(s);
    if (v < BigInt(min) || v > BigInt(max)) throw new InputError(name, text, "whole_range", { min, max });
    return Number(v);
  }

  // ---------------------------------------------------------------------- lab
  /** h_t = w^t·h_0, exactly. */
  const state = (w, h0, t) => (t === 0 ? h0 : mul(powQ(w, t), h0));
  /** ∂L/∂w = T·w^(T−1)·h_0 (the closed form of Σ h_{t−1}·w^(T−t)). */
  const gradient = (w, h0, T) => mul(Q(BigInt(T)), state(w, h0, T - 1));
  /** gradguard.lab._recurrence.estimate_digits: an upper estimate of the text length. */
  function estimateDigits(w, h0, power, factor = 1) {
    let total = 2.0;
    for (const [pw, ph] of [[w.n, h0.n], [w.d, h0.d]]) {
      const lw = pw ? log10Int(pw) : 0.0, lh = ph ? log10Int(ph) : 0.0;
      total += (lw === 0 ? 0.0 : power * lw) + lh + 1;
    }
    total += Math.log10(Math.max(1, Math.abs(factor)));
    return Number.isFinite(total) ? Math.trunc(total) : Number.MAX_SAFE_INTEGER;
  }
  /** gradguard.lab.regime: exploding, vanishing (with its first peak), linear or zero. */
  function regime(w) {
    const a = absQ(w), alternating = sign(w) < 0;
    if (w.n === 0n) return { kind: "zero", alternating: false, factor: ZERO };
    if (cmp(a, ONE) > 0) return { kind: "exploding", alternating, factor: a };
    if (cmp(a, ONE) === 0) return { kind: "linear", alternating, factor: a };
    const ratio = div(a, sub(ONE, a));
    const peak = Math.max(1, Number((ratio.n + ratio.d - 1n) / ratio.d)); // ⌈|w|/(1−|w|)⌉
    const ln = log10Abs(a) * Math.log(10);
    const real = ln !== 0 ? -1.0 / ln : Infinity;
    const tie = ratio.d === 1n && Number(ratio.n) === peak ? peak + 1 : null; // f(r) = f(r+1)
    return { kind: "vanishing", alternating, factor: a, peak_T: peak, peak_T_real: real, peak_T2: tie };
  }
  const IEEE = { float64: [53, -1022, 1023], float32: [24, -126, 127] };
  /** |x| ≥ the midpoint between the format's largest finite value and 2^(e_max+1) (→ inf). */
  function roundsToInf(x, dt) {
    const [bits, , emax] = IEEE[dt];
    const half = 2n ** BigInt(emax + 1) - 2n ** BigInt(emax - bits);
    const a = absQ(x);
    return a.n >= half * a.d;
  }
  /** gradguard.lab.overflow_horizon: the first T whose gradient is ±inf in `dt`, or null. */
  const horizons = new Map(); // a slider on T, η or c leaves w and h0, and so the horizon
  function overflowHorizon(w, h0, dt) {
    const key = `${exactText(w)}|${exactText(h0)}|${dt}`;
    if (!horizons.has(key)) {
      if (horizons.size > 256) horizons.clear();
      horizons.set(key, overflowHorizonOf(w, h0, dt));
    }
    return horizons.get(key);
  }
  function overflowHorizonOf(w, h0, dt) {
    if (h0.n === 0n) return null;
    const lh = log10Abs(h0), lwAbs = w.n === 0n ? -Infinity : log10Abs(w);
    const infAt = (t) => {
      // gradguard.lab._recurrence._power_round's order: log shortcuts, exact, else via the log
      const power = t - 1;
      if (w.n === 0n && power > 0) return false;
      const lg = Math.log10(t) + (power === 0 ? 0.0 : power * lwAbs) + lh;
      if (lg > 310) return true;
      if (lg < -330) return false;
      if (estimateDigits(w, h0, power, t) <= 20000) return roundsToInf(gradient(w, h0, t), dt);
      const v = 10 ** lg;
      return dt === "float32" ? Math.fround(v) === Infinity : v === Infinity;
    };
    if (w.n === 0n) return infAt(1) ? 1 : null;
    if (cmp(absQ(w), ONE) === 0) {
      const [bits, , emax] = IEEE[dt];
      const q = div(Q(2n ** BigInt(emax + 1) - 2n ** BigInt(emax - bits)), absQ(h0));
      const c = (q.n + q.d - 1n) / q.d;
      return c > 1n ? (c <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(c) : c) : 1;
    }
    let hi;
    if (cmp(absQ(w), ONE) > 0) {
      hi = 1;
      while (!infAt(hi)) hi *= 2;
    } else {
      hi = regime(w).peak_T || 1;
      if (!Number.isSafeInteger(hi) || !infAt(hi)) return null;
    }
    let lo = 0;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (infAt(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }
  /** The seed's clipping rule g / max(1, |g|/c), exactly. */
  function clip(g, c) {
    const r = div(absQ(g), c);
    return cmp(r, ONE) > 0 ? div(g, r) : g;
  }
  /** One SGD update w − η·g. */
  const sgdStep = (w, g, eta) => sub(w, mul(eta, g));

  // ----------------------------------------------------------- the explorer
  const MAX_T = 10000, DIGITS = 40, EXACT_UP_TO = 400, CURVE_POINTS = 200, TABLE_T = [5, 10, 20, 50];
  /** A value as the page shows it: as formatNumber writes it while short, "≈ d.ddd × 10^k" past 40 digits. */
  function valueOf(w, h0, power, factor = 1) {
    const q = mul(Q(BigInt(factor)), state(w, h0, power));
    return { q, approx: estimateDigits(w, h0, power, factor) > EXACT_UP_TO };
  }
  /** gradguard.report._lesson.fmt: grouped as every sentence, table and formula (-9,998). */
  function showQ(q, approx = false) {
    if (approx || digitsOf(q) > DIGITS) {
      const out = formatNumber(approxJson(q), true);
      if (out.startsWith("≈")) noteExact(out, q);
      return out;
    }
    return formatNumber(exactText(q), true);
  }
  const show = (v) => showQ(v.q, v.approx);
  function shownSteps(T, head, tail) {
    if (head + tail + 1 >= T) return Array.from({ length: T }, (_, i) => i + 1);
    const out = [];
    for (let i = 1; i <= head; i++) out.push(i);
    out.push(0);
    for (let i = T - tail + 1; i <= T; i++) out.push(i);
    return out;
  }
  /** The parameters from their texts (as the page's inputs hold them); throws InputError. */
  function parse(params) {
    const lang = params.lang || "en";
    if (!(lang in GG.DATA.catalogs)) throw new InputError("lang", lang, "choice");
    const T = checkWhole(params.T ?? "5", "T", 1, MAX_T);
    const w = toExact(params.w ?? "2", "w"), h0 = toExact(params.h0 ?? "1", "h0");
    const etaText = params.eta ?? "0.01", eta = toExact(etaText, "eta");
    if (sign(eta) <= 0) throw new InputError("eta", etaText, "positive");
    const c = toExact(params.c ?? "5", "c");
    // Python checks the exact value here and shows it as str(Fraction): 0, -1/2 (no quotes)
    if (sign(c) <= 0) throw new InputError("c", { str: exactText(c) }, "threshold");
    return { lang, T, w, h0, eta, c };
  }
  /**
   * Everything the page shows for `params` (strings): the same keys and texts as
   * gradguard.serve.explorer_state, the Python reference.
   */
  function explorerState(params) {
    EXACTS.clear(); // the values of this state only
    SAID.clear();
    const { lang, T, w, h0, eta, c } = parse(params);
    const ws = showQ(w);
    const grad = valueOf(w, h0, T - 1, T);
    const idx = shownSteps(T, 6, 3);
    const st = (k) => valueOf(w, h0, k);
    // gradguard.report._lesson.factor and base: h_2 = (-1.5) × (-1.5), 1·(-1.5)^4 + (-1.5)·(-1.5)^3
    const forward = idx.map((i) => (i ? `h_${i} = ${factor(ws)} × ${factor(show(st(i - 1)))} = ${show(st(i))}` : say(lang, "ui_more", { n: count(T - 9) })));
    const symbolic = idx.map((i) => (i ? `${factor(show(st(i - 1)))}·${base(ws)}^${T - i}` : "…"));
    const term = factor(show(valueOf(w, h0, T - 1)));
    const values = idx.map((i) => (i ? term : "…"));
    const seedSystem = cmp(w, Q(2n)) === 0 && cmp(h0, ONE) === 0;
    const table = TABLE_T.map((t) => {
      const row = { T: t, h_T: cell(exactText(state(w, h0, t)), lang), grad: cell(exactText(gradient(w, h0, t)), lang) };
      const seed = seedSystem ? GG.DATA.seed_table[String(t)] : null;
      row.seed = seed ? seed.seed : "";
      row.off_by = seed ? seed.off_by : "";
      return row;
    });
    const f64 = overflowHorizon(w, h0, "float64"), f32 = overflowHorizon(w, h0, "float32");
    // gradguard.explain._render.overflow_inf: ±inf for w < 0 (the sign alternates), else h0's sign
    const inf = sign(w) < 0 ? "±inf" : sign(h0) < 0 ? "-inf" : "inf";
    const overflow = f64 !== null && f32 !== null
      ? say(lang, "overflow_note", { w: ws, h0: showQ(h0), f64: count(f64), f32: count(f32), inf })
      : say(lang, "overflow_never", { w: ws, h0: showQ(h0) });
    const gText = show(grad);
    const [wNewShown, gClipShown, wClipShown] = updates(w, grad, eta, c, gText);
    const found = claims(w, h0, T, eta, c, TABLE_T, DIGITS, grad.q);
    return {
      params: { w: ws, h0: showQ(h0), T, eta: showQ(eta), c: showQ(c), lang },
      forward: forward.map(tidy),
      loss: show(st(T)),
      backward: { symbolic: symbolic.join(" + "), values: tidy(values.join(" + ")) },
      grad: gText,
      grad_text: tidy(say(lang, "backward_sum", { grad: gText })),
      table,
      errata: seedSystem ? erratum("table", lang) : "",
      trend: said(found, ["trend"], lang).join(" "),
      why: tidy([say(lang, "why_text"), ...said(found, WHY_TOPICS, lang)].join(" ") + " " + erratum("proportional", lang)),
      overflow: tidy(overflow),
      sgd: {
        w_new: wNewShown,
        text: tidy([say(lang, "sgd_text", { w: ws, eta: showQ(eta), grad: factor(gText), w_new: wNewShown }), ...said(found, SGD_TOPICS, lang)].join(" ")),
      },
      clip: { grad_clipped: gClipShown, w_new: wClipShown, text: tidy(said(found, ["clipping"], lang).join(" ")) },
      curve: curve(w, h0, T),
    };
  }
  /**
   * w − η·g, the clipped g and w − η·g_clipped as shown: gradguard.serve._server._updates.
   * Python computes them at bounded precision when the gradient was (shown abbreviated),
   * exactly when that cannot decide (w and η·g cancel, or |g| is within 10^-40 of c).
   */
  function updates(w, grad, eta, c, gText) {
    const g = grad.q;
    if (grad.approx && !cancels(w, mul(eta, g))) {
      const margin = mul(c, Q(1n, 10n ** 40n)), a = absQ(g);
      const side = cmp(a, add(c, margin)) > 0 ? 1 : cmp(a, sub(c, margin)) < 0 ? -1 : null;
      if (side !== null) {
        const wNew = showQ(sgdStep(w, g, eta), true);
        if (side < 0) return [wNew, gText, wNew];
        const gc = sign(g) > 0 ? c : neg(c);
        return [wNew, showQ(gc), showQ(sgdStep(w, gc, eta))];
      }
    }
    const gc = clip(g, c);
    return [showQ(sgdStep(w, g, eta)), showQ(gc), showQ(sgdStep(w, gc, eta))];
  }
  /** gradguard.report._approx.sub_scaled's test: w − η·g keeps fewer than 10 of 50 digits. */
  function cancels(a, b) {
    const out = sub(a, b);
    if (out.n === 0n) return true;
    const big = cmp(absQ(a), absQ(b)) >= 0 ? absQ(a) : absQ(b);
    return cmp(absQ(out), mul(big, Q(1n, 10n ** 40n))) < 0;
  }
  /** A table cell: gradguard.explain._table.table_cells (group=False). */
  function cell(text, lang) { return formatNumber(text, true, lang); } // 5,120: as the prose groups
  /** log10|∂L/∂w| over T (floats, for the plot), as explorer_state samples it. */
  function curve(w, h0, T) {
    const Tmax = Math.max(T, 60);
    const step = Math.max(1, Math.floor(Tmax / CURVE_POINTS));
    const set = new Set([1, T, Tmax]);
    for (let t = 1; t <= Tmax; t += step) set.add(t);
    const Ts = [...set].sort((a, b) => a - b);
    const wf = toDouble(w), hf = toDouble(h0);
    const ok = Number.isFinite(wf) && Number.isFinite(hf);
    const lw = Math.log10(Math.abs(wf)), lh = Math.log10(Math.abs(hf));
    const logs = Ts.map((t) => {
      if (!ok) return null;
      const v = Math.log10(t) + (t === 1 ? 0.0 : (t - 1) * lw) + lh;
      return Number.isFinite(v) ? Math.round(v * 1e6) / 1e6 : null;
    });
    return { T: Ts, log10_grad: logs, current_T: T };
  }

  Object.assign(GG, {
    EXACTS, SAID, EXACT_TITLE, exactEntry, lazyEntry, exactShort, exactFull, exactTextOf, digitsOf,
    Q, ZERO, ONE, add, sub, mul, div, neg, absQ, cmp, powQ, sign, isInt, toDouble, fromDouble, bitLength, reduceSmooth,
    sciExact, sciFromLog, exactText, exactToJson, formatNumber, groupDigits, count, tidy, say,
    InputError, toExact, checkWhole, latinDigits, state, gradient, regime, overflowHorizon,
    clip, sgdStep, estimateDigits, explorerState, parse, showQ, log10Abs, MAX_T, claims, sayClaim,
    factor,
  });
  if (typeof module !== "undefined" && module.exports) module.exports = GG;
})(typeof globalThis !== "undefined" ? globalThis : this);
