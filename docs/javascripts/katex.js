// Typeset the formulas pymdownx.arithmatex marked (\( … \) inline, \[ … \] display) with the
// KaTeX the site carries (assets/katex, copied from the gradguard package): no network.
// gradguardMath is gradguard's one typesetting script (assets/katex-glue.js), shared with the
// report and the explorer: it also keeps $T$-এর, = 80। on one line.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".arithmatex").forEach(function (el) {
    gradguardMath.typeset(el, "brackets");
  });
});
