// Progressive enhancement only: every page works without this script.
// Copy buttons appear when the clipboard is available.
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) return;
  for (const b of document.querySelectorAll("button[data-copy]")) {
    const target = document.getElementById(b.dataset.copy);
    if (!target) continue;
    b.hidden = false;
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(target.value);
        b.textContent = "Copied";
      } catch {
        target.select();
      }
    });
  }
  // Put focus on the first error so keyboard and screen-reader users land on it.
  const err = document.querySelector("[aria-invalid=true]") || document.getElementById("error");
  if (err) { if (!err.hasAttribute("tabindex") && err.id === "error") err.setAttribute("tabindex", "-1"); err.focus(); }
});
