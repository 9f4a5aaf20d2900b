// Typeset the formulas pymdownx.arithmatex marked (\( … \) inline, \[ … \] display) with the
// KaTeX the site carries (assets/katex, copied from the gradguard package): no network.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".arithmatex").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  });
});
