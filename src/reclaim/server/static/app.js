// reclaim web UI: reveal on a deliberate click (audited), review shortcuts, job progress polling.
// Vanilla JavaScript, no dependencies. The CSRF token travels in a header for fetch() calls.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const cards = Array.from(document.querySelectorAll("article.card"));
  let current = -1;

  function select(i) {
    if (!cards.length) return;
    current = Math.max(0, Math.min(cards.length - 1, i));
    cards.forEach((c, n) => c.classList.toggle("current", n === current));
    cards[current].focus({ preventScroll: true });
    cards[current].scrollIntoView({ block: "nearest" });
  }

  async function toggleReveal(card) {
    const img = card.querySelector("img.preview");
    const button = card.querySelector('[data-action="reveal"]');
    if (!img || !button) return;
    if (img.classList.contains("revealed")) { // blur again: drop the clear image from memory
      URL.revokeObjectURL(img.src);
      img.src = img.dataset.previewSrc;
      img.alt = img.dataset.altBlurred;
      img.classList.remove("revealed");
      button.textContent = button.dataset.showText;
      return;
    }
    button.disabled = true;
    try {
      const r = await fetch(img.dataset.revealUrl, {
        method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin", cache: "no-store",
      });
      if (!r.ok) throw new Error(String(r.status));
      img.src = URL.createObjectURL(await r.blob());
      img.alt = img.dataset.altRevealed;
      img.classList.add("revealed");
      button.textContent = button.dataset.hideText;
    } catch (e) {
      button.textContent = button.dataset.failedText;
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest('[data-action="reveal"]');
    if (button) toggleReveal(button.closest("article.card"));
  });

  document.addEventListener("keydown", (ev) => {
    if (!cards.length || ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing) return;
    if (ev.target.closest("input, textarea, select, [contenteditable]")) return;
    const card = cards[current];
    const press = (action) => card?.querySelector(`[data-action="${action}"]`);
    if (ev.key === "j") select(current + 1);
    else if (ev.key === "k") select(current - 1);
    else if (ev.key === "v" && card) toggleReveal(card);
    else if ((ev.key === "c" || ev.key === "r") && press(ev.key === "c" ? "confirm" : "reject")) {
      const b = press(ev.key === "c" ? "confirm" : "reject");
      b.form.requestSubmit(b);
    } else return;
    ev.preventDefault();
  });

  if (cards.length) {
    const target = location.hash ? cards.findIndex((c) => "#" + c.id === location.hash) : -1;
    select(target >= 0 ? target : 0);
  }

  const job = document.querySelector("[data-poll]");
  if (job) {
    const timer = setInterval(async () => {
      try {
        const r = await fetch(job.dataset.poll, { credentials: "same-origin", cache: "no-store" });
        if (!r.ok) return;
        const s = await r.json();
        document.getElementById("job-status").textContent = s.status_text;
        document.getElementById("job-text").textContent = s.text;
        const bar = document.getElementById("job-bar");
        bar.max = s.total || 1;
        bar.value = s.total ? s.done : 0;
        if (s.final) { clearInterval(timer); location.reload(); }
      } catch (e) { /* the next poll tries again */ }
    }, 1000);
  }
})();

// Takedown notices: copy a notice's text or one of its form fields to the clipboard.
(function () {
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest('[data-action="copy"]');
    if (!button) return;
    const field = document.getElementById(button.dataset.copyTarget);
    if (!field) return;
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = button.dataset.copiedText;
    } catch (e) {
      field.focus();
      field.select();
      button.textContent = button.dataset.failedText;
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
})();
