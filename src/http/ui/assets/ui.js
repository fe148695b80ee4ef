// dockhand dashboard: copy buttons and the live deliveries list. Everything else is plain HTML.
"use strict";

function announce(text) {
  const s = document.getElementById("copy-status") || document.getElementById("live-status");
  if (s) s.textContent = text;
}

document.addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    // Plain HTTP on another host has no clipboard API: select the text for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(source);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    button.textContent = "Selected";
    announce("URL selected; press Ctrl+C to copy");
    return;
  }
  button.textContent = "Copied";
  announce("URL copied");
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

// The deliveries list polls its own rows (server-rendered, escaped) every few seconds.
(function live() {
  const body = document.getElementById("delivery-rows");
  const toggle = document.getElementById("live");
  const status = document.getElementById("live-status");
  if (!body || !toggle) return;
  const src = body.dataset.src;
  let busy = false;
  async function poll() {
    if (!toggle.checked || busy || document.hidden) return;
    busy = true;
    try {
      const r = await fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (r.status === 401) { toggle.checked = false; status.textContent = "signed out"; return; }
      if (r.ok) {
        const html = await r.text();
        if (html !== body.innerHTML) body.innerHTML = html;
        status.textContent = "updated " + new Date().toLocaleTimeString();
      }
    } catch (_) {
      status.textContent = "cannot reach dockhand";
    } finally {
      busy = false;
    }
  }
  setInterval(poll, 3000);
})();
