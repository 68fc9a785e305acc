// The receipt's Print button (no inline handlers: the pages run under script-src 'self').
document.getElementById("print")?.addEventListener("click", () => window.print());
