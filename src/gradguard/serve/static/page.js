/* gradguard explorer — the page: controls, drawings and the catalog's words.
 *
 * Every number comes from lab.js (exact) or matrix.js (float64, matrix mode);
 * every word from the catalogs carried in the page (GG.DATA). Nothing is fetched.
 */
(function () {
  "use strict";
  const GG = window.GG;
  GG.DATA = JSON.parse(document.getElementById("gg-data").textContent);
  const $ = (id) => document.getElementById(id);
  const NS = "http://www.w3.org/2000/svg";
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const query = new URLSearchParams(location.search);
  let lang = GG.DATA.langs.includes(query.get("lang")) ? query.get("lang") : document.documentElement.lang;
  const S = (key, values) => GG.say(lang, key, values);
  const names = ["w", "h0", "T", "eta", "c"];
  let current = null; // the last good explorer state and its parsed parameters

  // ------------------------------------------------------------- language
  function setLang(next) {
    lang = next;
    document.documentElement.lang = lang;
    document.title = S("ui_title");
    for (const el of document.querySelectorAll("[data-t]")) mtext(el, S(el.dataset.t));
    for (const b of document.querySelectorAll(".lang")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
    try { history.replaceState(null, "", "?lang=" + lang + location.hash); } catch (e) { /* file:// in some browsers */ }
    updateAll();
  }
  for (const b of document.querySelectorAll(".lang")) b.addEventListener("click", () => setLang(b.dataset.lang));

  // ---------------------------------------------------------------- math
  function typeset() { window.gradguardMath.typeset(document); } // katex-glue.js

  // -------------------------------------------------------------- lesson
  function params() {
    const p = { lang };
    for (const n of names) p[n] = $(n + "-num").value;
    return p;
  }
  function text(id, s) { $(id).replaceChildren(...exactNodes(String(s), (x) => [document.createTextNode(x)])); }
  /**
   * ``s`` as nodes, each rounded number in it ("≈ 47.2304", "≈ 3,325.26") a focusable
   * <span class="exact" title="= 99049307841/2097152000">: its exact value one hover (or
   * Tab) away, as in the HTML report (gradguard.report._html._html). The exact values are
   * those lab.js noted as it formatted them (GG.EXACTS); ``inner`` renders the rest.
   */
  function exactNodes(s, inner) {
    const keys = [...GG.EXACTS.keys()].filter((k) => s.includes(k));
    if (!keys.length) return inner(s);
    // in the lesson's sentences each number's own exact value, by place (GG.SAID): two values
    // that round alike ("≈ 2.030 × 10^352" twice) are told apart where the text alone cannot
    const placed = new Map();
    for (const [said, rounded] of GG.SAID) {
      const sentence = GG.tidy(said);
      for (let at = s.indexOf(sentence); at >= 0; at = s.indexOf(sentence, at + 1)) {
        let pos = at;
        for (const [shown, entry] of rounded) {
          const i = s.indexOf(shown, pos);
          if (i < 0 || i >= at + sentence.length) break;
          placed.set(i, entry);
          pos = i + shown.length;
        }
      }
    }
    keys.sort((a, b) => b.length - a.length);
    const reEsc = (k) => k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    // a key ends where the number does: "≈ 1.2" is not the start of "≈ 1.25"
    const re = new RegExp("(" + keys.map(reEsc).join("|") + ")(?![\\d.,]\\d|\\d)", "g");
    const out = [];
    let at = 0;
    for (const m of s.matchAll(re)) {
      out.push(...inner(s.slice(at, m.index)));
      const entry = placed.get(m.index) || GG.EXACTS.get(m[1]);
      if (!entry) { out.push(...inner(m[1])); at = m.index + m[1].length; continue; } // two values, no place: none
      const el = document.createElement("span");
      el.append(...inner(m[1]));
      carryExact(el, entry);
      out.push(el);
      at = m.index + m[1].length;
    }
    out.push(...inner(s.slice(at)));
    return out;
  }
  /**
   * Make ``el`` (a rounded number: an HTML span, an SVG text or tspan) carry the exact value
   * of ``entry`` (lab.js: exactEntry, lazyEntry): focusable, titled "= 99049307841/2097152000"
   * — an SVG element by a <title> child, as SVG gives its tooltips and accessible names.
   * An exact text past GG.EXACT_TITLE characters is no tooltip anyone reads: the title says
   * so, and a click (Enter, Space) opens the value in full to read and copy (openExact).
   */
  function carryExact(el, entry) {
    const short = GG.exactShort(entry);
    const title = short !== null ? "= " + short : S("exact_long");
    el.classList.add("exact");
    el.setAttribute("tabindex", "0");
    if (el instanceof SVGElement) {
      const t = document.createElementNS(NS, "title");
      t.textContent = title;
      el.prepend(t);
    } else el.title = title;
    if (short === null) {
      el.exactEntry = entry;
      el.setAttribute("role", "button");
      el.setAttribute("aria-haspopup", "dialog");
    }
    return el;
  }
  /** A shown number as nodes: a rounded one ("≈ …", or ``rounded``) carries ``entry`` (carryExact). */
  function numberNodes(shown, entry, rounded = shown.startsWith("≈")) {
    if (!rounded) return [document.createTextNode(shown)];
    const el = document.createElement("span");
    el.append(...mathNodes(shown));
    return [carryExact(el, entry)];
  }
  /**
   * Drawings are written as SVG text; a rounded number in them is ``svgNum(shown, entry)``, a
   * <tspan> that bindExacts gives its exact value once the SVG is in the page.
   */
  const pending = new Map();
  let pendingId = 0;
  function svgNum(shown, entry, rounded = shown.startsWith("≈")) {
    if (!rounded) return esc(shown);
    pending.set(String(++pendingId), entry);
    return `<tspan data-xid="${pendingId}">${esc(shown)}</tspan>`;
  }
  function bindExacts(svg) {
    for (const el of svg.querySelectorAll("[data-xid]")) {
      carryExact(el, pending.get(el.dataset.xid));
      el.removeAttribute("data-xid");
    }
    pending.clear();
  }
  /** The exact value of a long number in full (a dialog: its digits, a copy button), or why not. */
  function openExact(entry) {
    const dlg = $("exact-dialog");
    const full = GG.exactFull(entry);
    const area = $("exact-text");
    if (full === null) {
      mtext("exact-head", S("exact_too_long", { n: GG.groupDigits(String(entry.digits)) }));
      area.value = "";
      area.hidden = true;
      $("exact-copy").hidden = true;
    } else {
      const n = (full.match(/\d/g) || []).length;
      mtext("exact-head", S("exact_head", { n: GG.groupDigits(String(n)) }));
      area.value = full;
      area.hidden = false;
      $("exact-copy").hidden = false;
    }
    $("exact-status").textContent = "";
    if (!dlg.open) dlg.showModal(); // closed (Close, Esc), it gives the focus back to the number
    (full === null ? $("exact-close") : area).focus();
    if (full !== null) area.setSelectionRange(0, 0);
  }
  function exactTarget(e) {
    const el = e.target instanceof Element ? e.target.closest(".exact") : null;
    return el && el.exactEntry ? el : null;
  }
  document.addEventListener("click", (e) => { const el = exactTarget(e); if (el) openExact(el.exactEntry); });
  document.addEventListener("keydown", (e) => {
    const el = exactTarget(e);
    if (el && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); openExact(el.exactEntry); }
  });
  $("exact-close").addEventListener("click", () => $("exact-dialog").close());
  $("exact-copy").addEventListener("click", () => {
    const area = $("exact-text");
    const said = () => { $("exact-status").textContent = S("exact_copied"); };
    area.select();
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(area.value).then(said, () => { if (document.execCommand("copy")) said(); });
    else if (document.execCommand("copy")) said();
  });
  /**
   * The catalogs' plain-text math as math: x_t, x_{t−1}, h_(t−1), σ_max as subscripts;
   * w^(T−t), w^{p}, 10^6 as superscripts (the brackets not shown, as a typeset formula shows them);
   * `backticks` as code. Returns DOM nodes. The marks (_, ^, the brackets, the backticks)
   * stay in the text, visually hidden (class "mk"): the text reads, copies and compares
   * exactly as the catalog's sentence (h_T = L = 32), only its look changes. The report's
   * twin in Python: gradguard/report/_mathtext.py (test_explorer_parity holds them equal).
   */
  function mathNodes(s) {
    const out = [];
    let buf = "";
    const flush = () => { if (buf) out.push(document.createTextNode(buf)); buf = ""; };
    const mark = (m) => { const el = document.createElement("span"); el.className = "mk"; el.textContent = m; return el; };
    const groupAt = (i) => { // a {…} or (…) group (balanced) at i: [inside, end], or null
      const open = s[i], close = { "{": "}", "(": ")" }[open];
      if (!close) return null;
      for (let k = i, depth = 0; k < s.length; k++) {
        if (s[k] === open) depth++;
        else if (s[k] === close && --depth === 0) return [s.slice(i + 1, k), k + 1];
      }
      return null;
    };
    let i = 0;
    while (i < s.length) {
      const ch = s[i];
      if (ch === "`") {
        const end = s.indexOf("`", i + 1);
        if (end > i) {
          flush();
          const code = document.createElement("code");
          code.textContent = s.slice(i + 1, end);
          out.push(mark("`"), code, mark("`"));
          i = end + 1;
          continue;
        }
      }
      if ((ch === "_" || ch === "^") && i > 0 && /[\p{L}\p{N})|‖ᵀ]/u.test(s[i - 1])) {
        let inner = null, end = i + 1;
        const g = s[i + 1] === "{" || s[i + 1] === "(" ? groupAt(i + 1) : null;
        if (g) [inner, end] = g;
        else {
          const m = (ch === "_" ? /^[\p{L}\p{N}]+/u : /^[−-]?[\p{L}\p{N}]+/u).exec(s.slice(i + 1));
          if (m) [inner, end] = [m[0], i + 1 + m[0].length];
        }
        if (inner !== null) {
          flush();
          const el = document.createElement(ch === "_" ? "sub" : "sup");
          el.append(...mathNodes(inner));
          out.push(mark(g ? ch + s[i + 1] : ch), el);
          if (g) out.push(mark(s[end - 1]));
          i = end;
          continue;
        }
      }
      buf += ch;
      i += 1;
    }
    flush();
    return out;
  }
  /** Set an element's text from the catalogs, its math marks typeset (mathNodes). */
  function mtext(id, s) { (typeof id === "string" ? $(id) : id).replaceChildren(...exactNodes(String(s), mathNodes)); }
  function showError(e) {
    const el = $("error");
    el.textContent = S("ui_error") + ": " + (e instanceof GG.InputError ? e.message_(lang) : String(e));
    el.hidden = false;
    for (const id of ["lesson", "bp", "sgd-panel"]) $(id).classList.add("stale");
  }
  /** Recompute everything that depends on the lesson's parameters. */
  function updateLesson() {
    let d, p;
    try {
      p = GG.parse(params());
      d = GG.explorerState(params());
    } catch (e) {
      if (e instanceof GG.InputError) { showError(e); return false; }
      throw e;
    }
    $("error").hidden = true;
    for (const id of ["lesson", "bp", "sgd-panel"]) $(id).classList.remove("stale");
    current = { d, p };
    renderLesson(d);
    bpReset();
    drawSgd();
    return true;
  }
  function renderLesson(d) {
    text("grad", d.grad);
    mtext("grad-text", d.grad_text);
    text("forward", d.forward.join("\n"));
    const v = d.backward.values, approx = v.startsWith("≈ ");
    text("backward", "∂L/∂w = " + d.backward.symbolic + "\n      " + (approx ? "≈ " + v.slice(2) : "= " + v));
    const seed = d.table.some((row) => row.seed);
    const keys = seed ? ["T", "h_T", "grad", "seed", "off_by"] : ["T", "h_T", "grad"];
    const cols = ["col_T", "col_hT", "col_grad", "col_seed", "col_off"].slice(0, keys.length).map((k) => S(k));
    const tbl = document.createElement("table");
    const hr = tbl.insertRow();
    for (const c of cols) { const th = document.createElement("th"); mtext(th, c); hr.appendChild(th); }
    for (const row of d.table) { const tr = tbl.insertRow(); for (const k of keys) mtext(tr.insertCell(), row[k] || "—"); }
    $("table").replaceChildren(tbl);
    mtext("trend", d.trend);
    mtext("errata", d.errata);
    $("errata").hidden = !d.errata;
    mtext("overflow", d.overflow);
    mtext("sgd", d.sgd.text);
    mtext("clip", d.clip.text);
    mtext("why", d.why);
    drawCurve(d.curve);
  }

  // --------------------------------------------------------------- plots
  /** An SVG line plot: series [{points: [[x, y]], color, dash}], marks [{x, y, label}] (label: SVG text, svgNum). */
  function plot(svg, series, opts = {}) {
    const W = opts.W || 640, H = opts.H || 300, m = { l: 58, r: 12, t: 10, b: 34 };
    const all = series.flatMap((s) => s.points).concat(opts.marks ? opts.marks.map((k) => [k.x, k.y]) : []).filter((p) => Number.isFinite(p[1]));
    let s = "";
    if (all.length) {
      const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
      const x0 = Math.min(...xs), x1 = Math.max(...xs);
      let y0 = Math.min(...ys), y1 = Math.max(...ys);
      if (opts.ceil !== false) { y0 = Math.floor(y0); y1 = Math.ceil(y1); }
      if (y0 === y1) { y0 -= 1; y1 += 1; }
      const X = (x) => m.l + ((x - x0) / Math.max(1e-300, x1 - x0)) * (W - m.l - m.r);
      const Y = (y) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
      let ticks = opts.ticks ? opts.ticks(y0, y1) : [];
      if (ticks.length < 2) {
        const raw = Math.max(opts.minStep || 1, (y1 - y0) / 6), mag = 10 ** Math.floor(Math.log10(raw));
        const step = [1, 2, 5, 10].map((f) => f * mag).find((v) => v >= raw);
        ticks = [];
        for (let k = Math.ceil(y0 / step) * step; k <= y1 + 1e-9; k += step) ticks.push([k, (opts.yTick || ((v) => "1e" + v))(k)]);
      }
      for (const [k, label] of ticks) {
        s += `<line x1="${m.l}" x2="${W - m.r}" y1="${Y(k)}" y2="${Y(k)}" stroke="#eee"/>`;
        s += `<text x="${m.l - 5}" y="${Y(k) + 4}" text-anchor="end">${esc(label)}</text>`;
      }
      for (const se of series) {
        const pts = se.points.filter((p) => Number.isFinite(p[1]));
        if (!pts.length) continue;
        s += `<polyline fill="none" stroke="${se.color}" stroke-width="${se.width || 2}"${se.dash ? ` stroke-dasharray="${se.dash}"` : ""} points="${pts.map((p) => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" ")}"/>`;
      }
      for (const k of opts.marks || []) {
        if (!Number.isFinite(k.y)) continue;
        s += `<circle cx="${X(k.x)}" cy="${Y(k.y)}" r="5" fill="${k.color || "#b01c1c"}"/>`;
        // the label above its point, or below it at the top of the plot (never cut off)
        const ly = Y(k.y) - 7 < m.t + 12 ? Y(k.y) + 18 : Y(k.y) - 7;
        if (k.label) s += `<text x="${Math.min(X(k.x) + 7, W - m.r - 4)}" y="${ly}" text-anchor="${X(k.x) > W * 0.7 ? "end" : "start"}">${k.label}</text>`;
      }
      const xl = opts.xLabel || ((x) => "T = " + x);
      s += `<text x="${m.l}" y="${H - 8}">${esc(xl(x0))}</text><text x="${W - m.r}" y="${H - 8}" text-anchor="end">${esc(xl(x1))}</text>`;
    }
    s += `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`;
    svg.innerHTML = s;
    bindExacts(svg);
  }
  /** A plot's legend as a list under it (it reflows on a phone): [[colour, label]]. */
  function legendList(ul, items) {
    ul.replaceChildren(...items.map(([color, label]) => {
      const li = document.createElement("li"), key = document.createElement("i");
      key.style.background = color;
      li.append(key, ...exactNodes(label, mathNodes));
      return li;
    }));
  }
  function drawCurve(curve) {
    const pts = curve.T.map((T, i) => [T, curve.log10_grad[i]]).filter((p) => p[1] !== null);
    const cur = pts.find((p) => p[0] === curve.current_T);
    plot($("plot"), [{ points: pts, color: "#1f77b4" }], { marks: cur ? [{ x: cur[0], y: cur[1] }] : [] });
  }

  // ------------------------------------------------- the backward pass
  // The sum is kept over the common denominator D = d_w^(T−1)·d_h0 of every term
  // h_{t−1}·w^(T−t) (exact; reduced for display by GG.reduceSmooth), so a step costs a
  // multiplication and an addition, not a gcd of two 9,000-digit numbers.
  const bp = { k: 0, timer: null, num: 0n, labels: new Map() };
  function bpReset() {
    bp.k = 0;
    bp.num = 0n;
    // the nodes' labels depend on w, h0 and T only: a move of η or c keeps them
    const key = current ? `${GG.exactText(current.p.w)}|${GG.exactText(current.p.h0)}|${current.p.T}` : "";
    if (bp.labelsKey !== key) { bp.labels = new Map(); bp.labelsKey = key; }
    bpStop();
    bpRender();
  }
  /** h_{t−1}·w^(T−t) as a numerator over D: the product of the two, unreduced. */
  function bpTermNum(t) {
    const { w, h0, T } = current.p;
    return w.n ** BigInt(t - 1) * h0.n * w.n ** BigInt(T - t);
  }
  function bpDen() {
    const { w, h0, T } = current.p;
    return { D: w.d ** BigInt(T - 1) * h0.d, base: w.d * h0.d };
  }
  /** One step back: t = T − k; δ_t = w^(T−t), the term h_{t−1}·δ_t joins the sum. */
  function bpStep() {
    if (!current || bp.k >= current.p.T) return;
    const t = current.p.T - bp.k;
    bp.num += bpTermNum(t);
    bp.k += 1;
    bpRender();
  }
  /** Jump to step k (benchmarks): the sum of the first k terms, each w^(T−1)·h_0 over D. */
  function bpJump(k) {
    bp.k = k;
    bp.num = BigInt(k) * bpTermNum(current.p.T);
    bpRender();
  }
  function bpStop() {
    if (bp.timer !== null) clearInterval(bp.timer);
    bp.timer = null;
    $("bp-play").setAttribute("aria-pressed", "false");
    $("bp-play").textContent = S("bp_play");
  }
  function bpPlay() {
    if (bp.timer !== null) { bpStop(); return; }
    if (current && bp.k >= current.p.T) bpReset();
    $("bp-play").setAttribute("aria-pressed", "true");
    $("bp-play").textContent = S("bp_pause");
    bp.timer = setInterval(() => {
      bpStep();
      if (!current || bp.k >= current.p.T) bpStop();
    }, 450);
  }
  $("bp-step").addEventListener("click", bpStep);
  $("bp-play").addEventListener("click", bpPlay);
  $("bp-reset").addEventListener("click", bpReset);
  function setExact(id, q) {
    const el = $(id);
    el.replaceChildren(...(q === null ? [] : numberNodes(GG.showQ(q), GG.exactEntry(q))));
    el.dataset.exact = q === null ? "" : GG.exactText(q);
  }
  function bpRender() {
    if (!current) return;
    const { w, h0, T } = current.p;
    const k = bp.k;
    if (k === 0) {
      mtext("bp-status", S("bp_status_forward", { loss: current.d.loss, step: S("bp_step") }));
      text("bp-delta-label", ""); text("bp-term-label", "");
      setExact("bp-delta", null); setExact("bp-term", null); setExact("bp-sum", GG.ZERO);
    } else {
      const t = T - k + 1;
      const status = S("bp_status", { k: GG.groupDigits(String(k)), T: GG.groupDigits(String(T)), t });
      mtext("bp-status", k === T ? status + " — " + S("bp_done", { T }) : status);
      mtext("bp-delta-label", S("bp_delta", { t, p: T - t }));
      mtext("bp-term-label", S("bp_term", { t1: t - 1, p: T - t }));
      const { D, base } = bpDen();
      setExact("bp-delta", GG.powQ(w, T - t));
      setExact("bp-term", GG.reduceSmooth(bpTermNum(t), D, base));
      setExact("bp-sum", GG.reduceSmooth(bp.num, D, base));
    }
    $("bp-step").disabled = k >= T;
    drawChain();
    drawOverlay();
  }
  /** Nodes h_0 … h_T; for long T the middle is folded and the count said. */
  function chainNodes(T) {
    if (T <= 12) return Array.from({ length: T + 1 }, (_, i) => i);
    return [0, 1, 2, 3, 4, -1, T - 4, T - 3, T - 2, T - 1, T];
  }
  /** A node's labels (its state, its δ), computed once per parameter set. */
  function nodeLabels(t) {
    if (!bp.labels.has(t)) {
      const { w, h0, T } = current.p;
      const h = GG.state(w, h0, t), d = GG.powQ(w, T - t);
      // the entries kept with the labels: an exact text is written once, not at every step
      bp.labels.set(t, { h: short(h), hx: GG.exactEntry(h), d: short(d), dx: GG.exactEntry(d) });
    }
    return bp.labels.get(t);
  }
  function drawChain() {
    const { w, T } = current.p;
    const nodes = chainNodes(T);
    const gap = 86, W = Math.max(560, 40 + gap * (nodes.length - 1) + 40), H = 150;
    const svg = $("bp-chain");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.style.minWidth = Math.min(W, 1100) * 0.6 + "px";
    const reached = T - bp.k + 1; // the smallest t the gradient has reached (T + 1: none yet)
    let s = "";
    nodes.forEach((t, i) => {
      const x = 40 + i * gap, y = 70;
      if (i > 0) {
        const lit = t !== -1 && nodes[i - 1] !== -1 && t >= reached;
        s += `<line x1="${x - gap + 18}" y1="${y}" x2="${x - 18}" y2="${y}" stroke="${lit ? "#b01c1c" : "#999"}" stroke-width="${lit ? 3 : 1.5}"/>`;
        // a factor as the lab writes one, (−1.5) in parentheses — never ×-1.5 — with a real minus
        const shown = GG.showQ(w), times = GG.factor(shown).replace("(-", "(−");
        s += `<text x="${x - gap / 2}" y="${y - 6}" text-anchor="middle">×${svgNum(times, GG.exactEntry(w), shown.startsWith("≈"))}</text>`;
      }
      if (t === -1) {
        s += `<text x="${x}" y="${y + 4}" text-anchor="middle" class="fold">${esc(S("bp_folded", { n: GG.groupDigits(String(T - 9)) }))}</text>`;
        return;
      }
      const visited = t >= reached && bp.k > 0;
      s += `<circle cx="${x}" cy="${y}" r="17" fill="${visited ? "#fde2e2" : "#e8eef7"}" stroke="${visited ? "#b01c1c" : "#1f5fa8"}" stroke-width="2"/>`;
      s += `<text x="${x}" y="${y + 4}" text-anchor="middle">h${sub(t)}</text>`;
      const lb = nodeLabels(t);
      s += `<text x="${x}" y="${y + 38}" text-anchor="middle">${svgNum(lb.h, lb.hx)}</text>`;
      if (visited) s += `<text x="${x}" y="${y - 28}" text-anchor="middle" fill="#b01c1c">δ=${svgNum(lb.d, lb.dx)}</text>`;
    });
    svg.innerHTML = s;
    bindExacts(svg);
  }
  const SUB = "₀₁₂₃₄₅₆₇₈₉";
  const sub = (n) => String(n).replace(/\d/g, (c) => SUB[c]);
  /** A short label for a node: exact while short, else 4 significant digits. */
  function short(q) {
    const t = GG.showQ(q);
    return t.length <= 9 ? t : GG.formatNumber("≈" + GG.sciExact(q, 3));
  }
  function drawOverlay() {
    const { w, T } = current.p;
    const a = Math.abs(GG.toDouble(w));
    // the reciprocal 1/|w| (exact, as the legend shows it), or 2 and ½ beside |w| = 1
    const aq = GG.absQ(w);
    const others = a !== 1 && a > 0 ? [GG.div(GG.ONE, aq)] : [GG.Q(2n), GG.Q(1n, 2n)];
    const line = (b) => {
      const lb = Math.log10(b);
      const pts = [];
      const stride = Math.max(1, Math.floor(T / 200));
      for (let t = 1; t <= T; t += stride) pts.push([t, (T - t) * lb]);
      pts.push([T, 0]);
      return pts;
    };
    const series = [];
    const colors = ["#b01c1c", "#555", "#1f5fa8", "#2a8a2a"];
    const legend = [];
    if (a > 0) { series.push({ points: line(a), color: colors[0], width: 3 }); legend.push([colors[0], GG.tidy(S("legend_yours", { w: GG.showQ(w) }))]); }
    series.push({ points: line(1), color: colors[1], dash: "6 4" }); legend.push([colors[1], S("legend_neutral")]);
    others.forEach((b, i) => { series.push({ points: line(GG.toDouble(b)), color: colors[2 + i], dash: "2 3" }); legend.push([colors[2 + i], GG.tidy(S("legend_other", { w: GG.showQ(b) }))]); });
    const t = Math.min(T, T - bp.k + 1);
    const marks = a > 0 && bp.k > 0 ? [{ x: t, y: (T - t) * Math.log10(a) }] : [];
    plot($("bp-overlay"), series, { H: 220, marks, xLabel: (x) => "t = " + x });
    legendList($("bp-legend"), legend);
  }

  // ---------------------------------------------------------------- SGD
  /** w over n updates in float64 on L = h_T: g(w) = T·w^(T−1)·h_0, with a rule for the step. */
  function trajectory(w0, h0, T, eta, n, rule) {
    const out = [[0, w0]];
    let w = w0, nonfinite = null;
    for (let k = 1; k <= n; k++) {
      let g = T * Math.pow(w, T - 1) * h0;
      g = rule(g);
      w = w - eta * g;
      if (!Number.isFinite(w)) { nonfinite = k; break; }
      out.push([k, w]);
    }
    return { points: out, nonfinite, last: out[out.length - 1][1] };
  }
  const symlog = (v) => Math.sign(v) * Math.log10(1 + Math.abs(v));
  /**
   * Ticks of a symlog axis at round values — 0, ±1, ±10, ±100 … (with ±2 and ±5 between
   * while there are few), at most about seven, each labelled with its value.
   */
  function symlogTicks(y0, y1) {
    const top = Math.max(Math.abs(y0), Math.abs(y1));
    const pick = (mantissas, every = 1) => {
      const out = y0 <= 0 && 0 <= y1 ? [0] : [];
      for (let k = 0; k <= 308 && symlog(10 ** k) <= top; k += every) {
        for (const f of mantissas) {
          const v = f * 10 ** k, p = symlog(v);
          if (p <= y1) out.push(v);
          if (-p >= y0) out.push(-v);
        }
      }
      return out;
    };
    let vs = pick([1, 2, 5]);
    for (let every = 1; vs.length > 7; every++) vs = pick([1], every);
    const label = (v) => {
      const a = Math.abs(v), e = Math.round(Math.log10(a));
      return (v < 0 ? "−" : "") + (a < 1e4 ? String(a) : (a / 10 ** e === 1 ? "" : a / 10 ** e + "·") + "1e" + e);
    };
    return vs.sort((x, y) => x - y).map((v) => [symlog(v), label(v)]);
  }
  function drawSgd() {
    if (!current) return;
    const n = Number($("sgd-n").value);
    text("sgd-n-out", n);
    const { w, h0, T, eta, c } = current.p;
    const wf = GG.toDouble(w), hf = GG.toDouble(h0), ef = GG.toDouble(eta), cf = GG.toDouble(c);
    const low = GG.div(eta, GG.Q(10n));
    const runs = [
      { key: "sgd_none", values: { eta: GG.showQ(eta) }, color: "#b01c1c", r: trajectory(wf, hf, T, ef, n, (g) => g) },
      { key: "sgd_clip", values: { c: GG.showQ(c) }, color: "#2a8a2a", r: trajectory(wf, hf, T, ef, n, (g) => g / Math.max(1, Math.abs(g) / cf)) },
      { key: "sgd_low", values: { eta: GG.showQ(low) }, color: "#1f5fa8", r: trajectory(wf, hf, T, GG.toDouble(low), n, (g) => g) },
    ];
    // the marked points, exact: the first update, and a gradient of 10^6
    const g = GG.gradient(w, h0, T);
    const first = GG.sgdStep(w, g, eta);
    const million = GG.sgdStep(w, GG.Q(10n ** 6n), eta);
    const num = (q, shown = GG.showQ(q)) => svgNum(shown, GG.exactEntry(q));
    const marks = [
      { x: 1, y: symlog(GG.toDouble(first)), label: `${num(g, current.d.grad)} → ${num(first)}`, color: "#b01c1c" },
      { x: 1, y: symlog(GG.toDouble(million)), label: `10^6 → ${num(million)}`, color: "#7a3fa0" },
    ];
    $("sgd-marks").innerHTML =
      `<li id="sgd-first"></li><li id="sgd-million"></li>`;
    mtext("sgd-first", S("sgd_first", { grad: current.d.grad, w: GG.showQ(w), w_new: GG.showQ(first) }));
    mtext("sgd-million", S("sgd_million", { w: GG.showQ(w), w_new: GG.showQ(million) }));
    plot($("sgd-plot"), runs.map((r) => ({ points: r.r.points.map(([k, v]) => [k, symlog(v)]), color: r.color })), {
      marks, ceil: false, minStep: 0.5, xLabel: (x) => "#" + x, ticks: symlogTicks,
      yTick: (v) => { const a = 10 ** Math.abs(v) - 1; return (v < 0 ? "−" : "") + (a >= 1000 ? a.toExponential(0) : +a.toPrecision(2)); },
    });
    // each run's last w: the float64 the run holds, written as the lab writes a number (a long
    // one rounded, "≈ 1.2", "≈ -3.516 × 10^43") and carrying its exact binary value
    $("sgd-legend").replaceChildren(...runs.map((r) => {
      const li = document.createElement("li"), key = document.createElement("i");
      key.style.background = r.color;
      li.append(key, ...exactNodes(S(r.key, r.values), mathNodes), ": ");
      if (r.r.nonfinite !== null) li.append(...mathNodes(S("sgd_nonfinite", { k: r.r.nonfinite })));
      else {
        const q = GG.fromDouble(r.r.last), shown = GG.showQ(q);
        const tail = GG.tidy(S("sgd_final", { n, w: shown })), at = tail.lastIndexOf(shown);
        li.append(...mathNodes(tail.slice(0, at)), ...numberNodes(shown, GG.exactEntry(q)), ...mathNodes(tail.slice(at + shown.length)));
      }
      return li;
    }));
  }
  $("sgd-n").addEventListener("input", drawSgd);

  // --------------------------------------------------------------- quiz
  const QUESTIONS = [["3/2", "1", 4], ["2", "1", 5], ["1/2", "1", 3], ["-1", "2", 6], ["2", "1", 10], ["0.9", "1", 2], ["-2", "1", 3], ["1", "3", 7]];
  let quizIndex = 0;
  function quizQuestion() {
    const [w, h0, T] = QUESTIONS[quizIndex % QUESTIONS.length];
    const wq = GG.toExact(w, "w"), hq = GG.toExact(h0, "h0");
    return { w: wq, h0: hq, T, answer: GG.gradient(wq, hq, T) };
  }
  function quizRender() {
    const q = quizQuestion();
    mtext("quiz-prompt", S("quiz_prompt", { w: GG.showQ(q.w), h0: GG.showQ(q.h0), T: q.T }));
  }
  /** The answer as an exact number (integer, fraction, decimal; Latin or Bengali digits), or null. */
  function readAnswer(s) {
    try { return GG.toExact(s, "answer"); } catch (e) { if (e instanceof GG.InputError) return null; throw e; }
  }
  $("quiz-check").addEventListener("click", () => {
    const q = quizQuestion(), given = $("quiz-answer").value;
    const x = readAnswer(given);
    const fb = $("quiz-feedback");
    if (x === null) { fb.textContent = S("quiz_unreadable"); fb.dataset.result = "unreadable"; return; }
    const right = GG.cmp(x, q.answer) === 0;
    mtext(fb, right ? S("quiz_right", { answer: GG.showQ(q.answer) }) : S("quiz_wrong", { given: given.trim() }));
    fb.dataset.result = right ? "right" : "wrong";
  });
  $("quiz-answer").addEventListener("keydown", (e) => { if (e.key === "Enter") $("quiz-check").click(); });
  $("quiz-reveal").addEventListener("click", () => {
    const q = quizQuestion();
    mtext("quiz-feedback", S("quiz_revealed", { T: q.T, w: GG.sign(q.w) < 0 ? `(${GG.showQ(q.w)})` : GG.showQ(q.w), p: q.T - 1, h0: GG.showQ(q.h0), answer: GG.showQ(q.answer) }));
    $("quiz-feedback").dataset.result = "revealed";
  });
  $("quiz-next").addEventListener("click", () => {
    quizIndex += 1;
    $("quiz-answer").value = "";
    text("quiz-feedback", "");
    delete $("quiz-feedback").dataset.result;
    quizRender();
  });

  // --------------------------------------------------------- matrix mode
  const mxInit = () => document.querySelector("#mx-init input:checked").value;
  function setInit(value) { document.querySelector(`#mx-init input[value="${value}"]`).checked = true; }
  /**
   * A matrix's figures — W itself (a QR for an orthogonal Q), its eigenvalues and singular
   * values (ml-matrix's dense decompositions) and the T − 1 backward steps ‖δ_t‖ — take about
   * a tenth of a second for a new 64 × 64 W on a busy machine, six frames. So they are
   * computed in a Web Worker made from the page's own scripts: a control answers within a
   * frame (its value shown, the facts marked "…", the figures dimmed) and the figures follow
   * when ready. One job runs at a time; while it runs only the newest request waits (a
   * dragged slider does not queue every value it passed). Results are kept per matrix
   * (spectrum) and per matrix and T (backward norms). Without workers, or if one fails,
   * the same functions run here.
   */
  const mx = { spectra: new Map(), backs: new Map(), bases: new Map(), busy: null, wanted: null, worker: null };
  /** The worker's job: W from (init, n, seed) or as typed; its spectrum; its backward norms. */
  function mxCompute(job, bases) {
    let W = job.W;
    if (!W) {
      W = bases.get(job.key);
      if (!W) { W = GG.matrix.makeW(job.init, job.n, 1, job.seed); bases.set(job.key, W); if (bases.size > 16) bases.clear(); }
    }
    let spec = null;
    if (job.spec) { try { spec = GG.matrix.spectrum(W); } catch (err) { spec = { rho: NaN, sigma: NaN, values: [] }; } }
    return { key: job.key, T: job.T, spec, back: GG.matrix.backward(W, job.T) };
  }
  function startWorker() {
    try {
      const texts = [...document.scripts].map((x) => x.textContent);
      const ml = texts.find((t) => t.includes(".mlMatrix={}")), mat = texts.find((t) => t.includes("GG.matrix = {"));
      if (!ml || !mat || typeof Worker === "undefined") return false;
      const src = ml + "\nself.GG = {};\n" + mat + "\nconst mxCompute = " + mxCompute.toString() +
        ";\nconst bases = new Map();\nonmessage = (e) => postMessage(mxCompute(e.data, bases));";
      const w = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
      w.onmessage = (e) => { mxStore(e.data); mx.busy = null; mxNext(); updateMatrix(); };
      w.onerror = () => { mx.worker = false; mx.busy = null; mx.wanted = null; updateMatrix(); };
      return w;
    } catch (e) {
      return false;
    }
  }
  function mxStore(r) {
    if (mx.spectra.size >= 64) mx.spectra.clear();
    if (mx.backs.size >= 256) mx.backs.clear();
    if (r.spec) mx.spectra.set(r.key, r.spec);
    mx.backs.set(r.key + "/" + r.T, r.back);
  }
  const mxDone = (job) => mx.backs.has(job.key + "/" + job.T) && mx.spectra.has(job.key);
  function mxNext() {
    const job = mx.wanted;
    mx.wanted = null;
    if (job && !mxDone(job)) {
      job.spec = !mx.spectra.has(job.key);
      mx.busy = job;
      mx.worker.postMessage(job);
    }
  }
  /** The spectrum and backward norms of the matrix `job` names, or nulls while the worker computes them. */
  function figuresOf(job) {
    if (!mxDone(job)) {
      if (mx.worker === null) mx.worker = startWorker();
      if (mx.worker) {
        mx.wanted = job;
        if (mx.busy === null) mxNext();
      } else {
        job.spec = !mx.spectra.has(job.key);
        mxStore(mxCompute(job, mx.bases));
      }
    }
    return { spec: mx.spectra.get(job.key) || null, back: mx.backs.get(job.key + "/" + job.T) || null };
  }
  /** The matrix the controls name, and its figures (null while computed); null for a bad typed matrix. */
  function matrixNow(T) {
    const init = mxInit(), n = Number($("mx-n").value), rho = Number($("mx-rho").value);
    const seed = Math.max(0, Math.floor(Number($("mx-seed").value) || 0));
    $("mx-rho").disabled = init !== "scaled-orthogonal";
    $("mx-n").disabled = init === "typed";
    $("mx-typed").disabled = init !== "typed";
    if (init === "typed") {
      const W = GG.matrix.parseMatrix($("mx-typed").value);
      return W === null ? null : figuresOf({ key: "typed/" + JSON.stringify(W), W, T });
    }
    // ρ·Q: the figures of Q once per (n, seed, T); ρ scales them: ρ(ρQ) = ρ·ρ(Q), and
    // (ρQᵀ)^k δ = ρ^k (Qᵀ)^k δ
    const base = init === "scaled-orthogonal" ? "orthogonal" : init;
    const f = figuresOf({ key: `${base}/${n}/${seed}`, init: base, n, seed, T });
    if (init !== "scaled-orthogonal") return f;
    const lr = Math.log10(rho);
    return {
      spec: f.spec && { rho: rho * f.spec.rho, sigma: rho * f.spec.sigma, values: f.spec.values.map(([a, b]) => [rho * a, rho * b]) },
      back: f.back && { logs: f.back.logs.map((v, i) => v + (T - 1 - i) * lr), factor: rho * f.back.factor },
    };
  }
  const fmt6 = (x) => (Number.isFinite(x) ? String(+x.toPrecision(6)) : String(x));
  /** A fact's text and its data-value, or "…" (data-pending) while its figure is computed. */
  function fact(el, key, field, v) {
    const ready = v !== null;
    mtext(el, S(key, { [field]: ready ? fmt6(v) : "…" }));
    if (ready) { el.dataset.value = v; delete el.dataset.pending; } else { delete el.dataset.value; el.dataset.pending = "1"; }
  }
  function updateMatrix() {
    text("mx-n-out", $("mx-n").value);
    text("mx-rho-out", $("mx-rho").value);
    const T = current ? current.p.T : 5;
    const m = matrixNow(T);
    $("mx-error").hidden = m !== null;
    if (m === null) { text("mx-error", S("mx_bad_matrix")); return; }
    const { spec, back: b } = m;
    fact($("mx-factor-is"), "mx_factor_is", "factor", b && b.factor);
    fact($("mx-rho-is"), "mx_rho_is", "rho", spec && spec.rho);
    fact($("mx-sigma-is"), "mx_sigma_is", "sigma", spec && spec.sigma);
    // until the figures come, the last ones stay, dimmed
    $("mx-eig").classList.toggle("stale", !spec);
    $("mx-norms").classList.toggle("stale", !(spec && b));
    if (spec) drawEigen(spec);
    if (!(spec && b)) return;
    const stride = Math.max(1, Math.floor(T / 300));
    const pts = [], rhoPts = [], sigPts = [];
    for (let t = 1; t <= T; t += stride) {
      pts.push([t, b.logs[t - 1]]);
      rhoPts.push([t, (T - t) * Math.log10(spec.rho)]);
      sigPts.push([t, (T - t) * Math.log10(spec.sigma)]);
    }
    pts.push([T, b.logs[T - 1]]); rhoPts.push([T, 0]); sigPts.push([T, 0]);
    // the per-step factor the red curve shows: its slope from t = 1 to t = T
    $("mx-norms").dataset.factor = T > 1 ? 10 ** ((pts[0][1] - pts[pts.length - 1][1]) / (T - 1)) : "";
    plot($("mx-norms"), [
      { points: sigPts, color: "#999", dash: "2 3" },
      { points: rhoPts, color: "#1f5fa8", dash: "6 4" },
      { points: pts, color: "#b01c1c", width: 2.5 },
    ], { xLabel: (x) => "t = " + x });
    legendList($("mx-legend"), [["#b01c1c", "‖∂L/∂h_t‖"], ["#1f5fa8", "ρ^(T−t)"], ["#999", "σ_max^(T−t)"]]);
  }
  function drawEigen(spec) {
    const svg = $("mx-eig"), C = 150;
    const R = Math.max(1.25, (spec.rho || 0) * 1.1), k = 130 / R;
    let s = `<line x1="10" x2="290" y1="${C}" y2="${C}" stroke="#ccc"/><line y1="10" y2="290" x1="${C}" x2="${C}" stroke="#ccc"/>`;
    s += `<circle cx="${C}" cy="${C}" r="${k}" fill="none" stroke="#333" stroke-dasharray="4 3"/>`;
    if (Number.isFinite(spec.rho)) s += `<circle cx="${C}" cy="${C}" r="${k * spec.rho}" fill="none" stroke="#1f5fa8" stroke-opacity=".5"/>`;
    for (const [a, b] of spec.values) s += `<circle class="eig" cx="${(C + a * k).toFixed(2)}" cy="${(C - b * k).toFixed(2)}" r="3.5" fill="#b01c1c"/>`;
    s += `<text x="${C + k + 3}" y="${C - 4}">1</text><text x="${C + 4}" y="22">Im</text><text x="272" y="${C - 6}">Re</text>`;
    svg.innerHTML = s;
  }
  /**
   * The product's curve, computed a few matrices per frame (≤ ~4 ms of work each), so a
   * slider move answers within one frame even at n = 64 (40 products of 64 × 64 matrices).
   */
  const prod = { job: 0 };
  function drawProduct() {
    const n = Math.min(64, Number($("mx-n").value)), s = Number($("mx-scale").value);
    text("mx-scale-out", s);
    const seed = Math.max(0, Math.floor(Number($("mx-seed").value) || 0));
    const job = ++prod.job, steps = GG.matrix.productSteps(n, s, 40, seed), logs = [];
    const chunk = () => {
      if (job !== prod.job) return; // a newer setting took over
      const t0 = performance.now();
      let done = false;
      while (performance.now() - t0 < 4) {
        const r = steps.next();
        if (r.done) { done = true; break; }
        logs.push(r.value);
      }
      plot($("mx-product"), [{ points: logs.map((v, i) => [i + 1, v]), color: "#7a3fa0" }], { H: 260, xLabel: (x) => "k = " + x });
      $("mx-product").dataset.k = String(logs.length);
      if (!done) requestAnimationFrame(chunk);
    };
    chunk();
  }
  for (const id of ["mx-n", "mx-rho", "mx-seed", "mx-typed"]) $(id).addEventListener("input", updateMatrix);
  for (const r of document.querySelectorAll("#mx-init input")) r.addEventListener("change", updateMatrix);
  for (const id of ["mx-n", "mx-seed"]) $(id).addEventListener("input", drawProduct);
  $("mx-scale").addEventListener("input", drawProduct);
  $("mx-nonnormal").addEventListener("click", () => {
    setInit("typed");
    $("mx-typed").value = "0.9 3\n0 0.9";
    updateMatrix();
  });

  // -------------------------------------------------------- LSTM / GRU
  let gateCell = "lstm";
  function updateGates() {
    const F = GG.DATA.flow;
    mtext("gate-intro", S("gate_intro", { hidden: F.hidden, T: F.T, seed: F.seed }));
    const pts = F.cells[gateCell];
    const i = Math.min(pts.length - 1, Number($("gate-bias").value));
    $("gate-bias").max = String(pts.length - 1);
    const p = pts[i];
    text("gate-bias-out", p.bias === null ? S("gate_default") : "b = " + p.bias);
    mtext("gate-mean", S("gate_mean", { gate: p.gate }));
    mtext("gate-factor", S("gate_factor", { factor: p.factor }));
    const left = p.factor ** (F.T - 1);
    mtext("gate-left", S("gate_left", { T: F.T, factor: p.factor, p: F.T - 1, left: +left.toPrecision(3) }));
    const xs = pts.filter((q) => q.bias !== null);
    plot($("gate-plot"), [
      { points: xs.map((q) => [q.bias, q.gate]), color: "#2a8a2a" },
      { points: xs.map((q) => [q.bias, q.factor]), color: "#b01c1c" },
      { points: xs.map((q) => [q.bias, 1]), color: "#555", dash: "6 4", width: 1 },
    ], { W: 400, H: 220, ceil: false, minStep: 0.1, yTick: (v) => +v.toFixed(2), xLabel: (x) => "b = " + x,
      marks: p.bias === null ? [] : [{ x: p.bias, y: p.factor }, { x: p.bias, y: p.gate, color: "#2a8a2a" }] });
  }
  for (const b of document.querySelectorAll(".gate-cell")) {
    b.addEventListener("click", () => {
      gateCell = b.dataset.cell;
      for (const o of document.querySelectorAll(".gate-cell")) o.setAttribute("aria-pressed", String(o === b));
      updateGates();
    });
  }
  $("gate-bias").addEventListener("input", updateGates);

  // ------------------------------------------------------------- wiring
  for (const n of names) {
    const slider = $(n), box = $(n + "-num");
    // matrix mode reads only T from the lesson
    const after = () => { const T = current && current.p.T; updateLesson(); if (!current || current.p.T !== T) updateMatrix(); };
    slider.addEventListener("input", () => { box.value = slider.value; after(); });
    box.addEventListener("input", () => {
      const v = Number(GG.latinDigits(box.value));
      if (box.value.trim() !== "" && Number.isFinite(v)) slider.value = v;
      after();
    });
  }
  function updateAll() {
    typeset();
    updateLesson();
    quizRender();
    updateMatrix();
    drawProduct();
    updateGates();
    if (current) bpRender();
  }
  GG.page = { updateLesson, updateMatrix, bpStep, bpReset, bpJump, state: () => current, bp, mathNodes };
  setLang(lang);
  if (window.performance && performance.mark) performance.mark("gg-ready"); // benchmarks/bench_explorer.py
})();
