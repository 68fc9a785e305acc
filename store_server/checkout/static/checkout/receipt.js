// The receipt page's Print button (no inline handlers: the pages' CSP allows no inline script).
document.getElementById("print")?.addEventListener("click", () => window.print());
