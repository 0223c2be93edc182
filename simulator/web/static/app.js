// KY debtor simulator UI: live traffic (server-sent events), instant search, copy-as-curl, polling panels.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);

  // -- traffic: live list and instant search ---------------------------------------------------
  const rows = $("#rows");
  const live = $("#live");
  const form = $("#filters");
  const MAX_ROWS = 500;
  let source = null;

  function setLive(state, text) {
    if (!live) return;
    live.classList.toggle("connected", state === "connected");
    live.dataset.state = state;
    live.textContent = text;
  }

  function connect(url) {
    if (source) source.close();
    source = null;
    if (!live || live.dataset.enabled !== "yes" || !url) return;
    live.dataset.stream = url;
    source = new EventSource(url);
    source.addEventListener("hello", () => setLive("connected", "live"));
    source.addEventListener("exchange", (e) => {
      const tpl = document.createElement("template");
      tpl.innerHTML = e.data.trim();
      const tr = tpl.content.firstElementChild;
      if (!tr || document.querySelector(`tr[data-id="${CSS.escape(tr.dataset.id)}"]`)) return;
      rows.prepend(tr);
      $("#empty") && ($("#empty").hidden = true);
      while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
    });
    source.addEventListener("reload", () => { source.close(); refresh(); });
    // each response ends after a while and the browser reconnects at once: only a longer gap is news
    const current = source;
    current.onerror = () => setTimeout(() => {
      if (source === current && current.readyState !== EventSource.OPEN) setLive("reconnecting", "reconnecting…");
    }, 2000);
  }

  function params() {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim()) p.set(k, String(v).trim());
    return p;
  }

  let pending = null;
  let latest = 0;
  async function refresh() {
    const mine = ++latest;
    const p = params();
    const r = await fetch(`/ui/traffic/rows?${p}`, { headers: { "x-partial": "rows" } });
    if (!r.ok || mine !== latest) return;  // a newer search has started: drop this answer
    const data = await r.json();
    if (mine !== latest) return;
    rows.innerHTML = data.rows;
    $("#empty").hidden = data.count > 0;
    const problems = $("#problems");
    problems.hidden = !data.problems.length;
    problems.textContent = data.problems.join("; ");
    const older = $("#older");
    older.hidden = !data.older_url;
    older.href = data.older_url || "#";
    history.replaceState(null, "", data.page_url);
    connect(data.stream_url);
  }

  if (rows && live) {
    connect(live.dataset.stream);
    form.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(refresh, 250); });
    form.addEventListener("change", () => { clearTimeout(pending); pending = setTimeout(refresh, 50); });
    form.addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(pending); refresh(); });
    window.addEventListener("pagehide", () => source && source.close());
  }

  // -- copy as curl ------------------------------------------------------------------------------
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("[data-copy]");
    if (!button) return;
    const text = document.getElementById(button.dataset.copy).value;
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = document.getElementById(button.dataset.copy);
      area.select();
      document.execCommand("copy");
    }
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });

  // -- confirmations -----------------------------------------------------------------------------
  document.addEventListener("submit", (e) => {
    const f = e.target.closest("form[data-confirm]");
    if (f && !window.confirm(f.dataset.confirm)) e.preventDefault();
  });

  // -- panels that refresh themselves: <section id=… data-poll="ms" [data-poll-while="selector"]> ----
  // With data-poll-while, polling goes on only while the panel holds a matching element (e.g. a running run).
  for (const el of document.querySelectorAll("[data-poll][id]")) {
    const every = Math.max(1000, parseInt(el.dataset.poll, 10) || 5000);
    const guard = el.dataset.pollWhile;
    const timer = setInterval(async () => {
      if (guard && !el.querySelector(guard)) { clearInterval(timer); return; }
      if (document.hidden) return;
      // don't replace a panel under the user's hands (a focused field), but a focused link or button is fine
      const active = document.activeElement;
      if (active && el.contains(active) && active.matches("input, select, textarea")) return;
      const r = await fetch(location.href, { headers: { "x-partial": el.id } });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = doc.getElementById(el.id);
      if (fresh) el.innerHTML = fresh.innerHTML;
    }, every);
  }

  // -- scenarios: show a finished run's report in the page -----------------------------------------
  document.addEventListener("click", (e) => {
    const button = e.target.closest("button.show-report[data-report]");
    const view = $("#report-view");
    if (!button || !view) return;
    $("#report-frame").src = button.dataset.report;
    $("#report-open").href = button.dataset.report;
    view.hidden = false;
    view.scrollIntoView({ block: "start" });
  });
})();

// -- "/" focuses the page's search (the traffic search, else the account search in the header) --------
document.addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || t.matches("input, select, textarea"))) return;
  const search = document.querySelector("[data-search]") || document.getElementById("find-account");
  if (!search) return;
  e.preventDefault();
  search.focus();
  if (search.select) search.select();
});

// -- a file input that loads its file's text into a textarea (importing a route file) ----------------
document.addEventListener("change", async (e) => {
  const input = e.target.closest("input[type=file][data-load-into]");
  if (!input || !input.files.length) return;
  document.getElementById(input.dataset.loadInto).value = await input.files[0].text();
});
