// gradguard: how every page gradguard makes typesets its formulas with the KaTeX it carries —
// the report and the worksheets (inlined, gradguard.report._katex), the explorer (inlined,
// gradguard.serve._static) and the docs site (assets/katex-glue.js, tools/mkdocs/katex.py).
//
// gradguardMath.typeset(root, delimiters) typesets, under root:
//   * each element with a data-tex attribute, as a display formula (the explorer's);
//   * with delimiters "dollars" ($…$ inline, $$…$$ display) or "brackets" (\(…\) inline,
//     \[…\] display, as pymdownx.arithmatex marks Markdown), every formula auto-render finds
//     outside <pre> and <code>;
// then glues each inline formula to the word written right after it. A browser may break a
// line between a typeset formula and the text that follows, so a Bengali case ending or
// classifier ($T$-এর, $k$টি), a danda (= 80।) or a comma would start the next line on its
// own: the formula and that word are wrapped in one span that does not wrap — unless the
// formula takes more than half of its paragraph's width (that one keeps its own breaks).
// An error in a formula shows its source (throwOnError: false).
var gradguardMath = (function () {
  "use strict";
  var DELIMITERS = {
    dollars: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
    ],
    brackets: [
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
    ],
  };
  var IGNORED = ["script", "noscript", "style", "textarea", "pre", "code"];

  function outer(k) {
    var math = k;
    while (math.parentNode && math.parentNode.tagName === "SPAN" && math.parentNode.childNodes.length === 1) {
      math = math.parentNode;
    }
    return math;
  }

  function glue(root) {
    root.querySelectorAll(".katex").forEach(function (k) {
      if (k.closest(".katex-display") || k.closest(".gradguard-glue")) return;
      // the formula as its paragraph holds it: auto-render wraps each in a span of its own,
      // and on the docs site pymdownx.arithmatex wraps that one in another
      var math = outer(k);
      var next = math.nextSibling;
      if (!next || next.nodeType !== Node.TEXT_NODE) return;
      var word = /^\S+/.exec(next.data);
      if (!word) return;
      var width = 0;
      Array.prototype.forEach.call(math.getClientRects(), function (r) { width += r.width; });
      var block = math.parentNode;
      while (block.parentNode && getComputedStyle(block).display.indexOf("inline") === 0) {
        block = block.parentNode;
      }
      if (width > block.clientWidth / 2) return;
      var span = document.createElement("span");
      span.className = "gradguard-glue";
      span.style.whiteSpace = "nowrap";
      math.parentNode.insertBefore(span, math);
      span.appendChild(math);
      span.appendChild(document.createTextNode(word[0]));
      next.data = next.data.slice(word[0].length);
    });
  }

  function typeset(root, delimiters) {
    if (!window.katex) return; // no KaTeX: the LaTeX source still reads
    root.querySelectorAll("[data-tex]").forEach(function (el) {
      if (!el.firstChild) {
        window.katex.render(el.dataset.tex, el, { throwOnError: false, displayMode: true });
      }
    });
    if (delimiters && window.renderMathInElement) {
      window.renderMathInElement(root, {
        delimiters: DELIMITERS[delimiters],
        ignoredTags: IGNORED,
        throwOnError: false,
      });
    }
    glue(root);
  }

  return { typeset: typeset, glue: glue };
})();
