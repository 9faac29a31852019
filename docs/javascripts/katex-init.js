// Render the math that pymdownx.arithmatex wraps in <span class="arithmatex"> with KaTeX,
// again after each instant-navigation page change.
function renderPrimerMath() {
  for (const element of document.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  }
}

if (typeof document$ !== "undefined") {
  document$.subscribe(renderPrimerMath);
} else {
  document.addEventListener("DOMContentLoaded", renderPrimerMath);
}
