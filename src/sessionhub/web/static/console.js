// The console's one script (an ES module, no library, no build step).
//
// - Live regions: every element with data-live is re-fetched (its data-src, ?part=live, rendered by
//   the same server template as the page) when the console's change stream (/console/events, SSE)
//   announces a change of one of the page's topics (body data-topics). One fetch per region at a
//   time; changes that arrive meanwhile cause one more fetch, never a queue.
// - Clocks: <time class="tick" data-since=ms> shows the time elapsed, every second, on the
//   server's clock (body data-now); waitlist rows with data-goal turn overdue when it passes.
// - Forms with data-enhance post in the background (with their CSRF field, as without script)
//   and report in the status line (#flash); without this script they post and redirect.

const body = document.body;
const prefix = body.dataset.prefix;
const skew = Number(body.dataset.now || Date.now()) - Date.now();
const now = () => Date.now() + skew;
const stateEl = document.getElementById("live-state");
const flashEl = document.getElementById("flash");
const regions = [...document.querySelectorAll("[data-live]")];
let lastSeq = body.dataset.since || "";
let flashTimer = 0;

function setState(text, ok) {
  if (!stateEl) return;
  stateEl.textContent = text;
  stateEl.classList.toggle("ok", ok);
}

function flash(text, bad = false) {
  if (!flashEl) return;
  flashEl.textContent = text;
  flashEl.hidden = false;
  flashEl.classList.toggle("bad", bad);
  flashEl.setAttribute("role", bad ? "alert" : "status");
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { flashEl.hidden = true; }, bad ? 10000 : 4000);
}

function pad(n) { return String(n).padStart(2, "0"); }

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

function tick() {
  const t = now();
  for (const el of document.querySelectorAll("time.tick[data-since]")) {
    el.textContent = duration(t - Number(el.dataset.since));
  }
  for (const row of document.querySelectorAll("[data-goal][data-since]")) {
    const late = row.dataset.waiting === "1" && t - Number(row.dataset.since) > Number(row.dataset.goal);
    row.classList.toggle("overdue", late);
    const flag = row.querySelector(".late-flag");
    if (flag) flag.hidden = !late;
  }
}

function focusKey(el) {
  const form = el && el.closest("form");
  return form ? `${form.getAttribute("action")}|${el.name || ""}|${el.value || ""}` : null;
}

function swap(region, html, seq) {
  const active = document.activeElement;
  const key = region.contains(active) ? focusKey(active) : null;
  region.innerHTML = html;
  if (key) {  // keep the keyboard where it was
    for (const el of region.querySelectorAll("button, input, a")) {
      if (focusKey(el) === key) { el.focus(); break; }
    }
  }
  region.dataset.paintedSeq = seq;
  body.dataset.paintedSeq = seq;
  body.dataset.paintedAt = String(performance.timeOrigin + performance.now());
  tick();
}

async function refresh(region) {
  if (region.busy) { region.again = true; return; }
  region.busy = true;
  try {
    do {
      region.again = false;
      const seq = lastSeq;
      const r = await fetch(region.dataset.src, { headers: { "x-console-fetch": "1" }, cache: "no-store" });
      if (r.status === 401) {
        location.assign(`${prefix}/signin?next=${encodeURIComponent(location.pathname)}`);
        return;
      }
      if (!r.ok) { flash(await r.text(), true); break; }
      swap(region, await r.text(), seq);
    } while (region.again);
  } catch (err) {
    setState("offline", false);
  } finally {
    region.busy = false;
  }
}

function refreshAll() { for (const region of regions) refresh(region); }

function listen() {
  const topics = (body.dataset.topics || "").split(" ").filter(Boolean);
  if (!topics.length) return;
  const q = new URLSearchParams(topics.map((t) => ["t", t]));
  if (lastSeq) q.set("since", lastSeq);
  const source = new EventSource(`${prefix}/events?${q}`);
  let opened = false;
  source.onopen = () => {
    setState("live", true);
    if (opened) refreshAll();  // a reconnect: whatever changed while away
    opened = true;
  };
  source.onerror = () => setState("reconnecting", false);
  source.addEventListener("change", (e) => {
    lastSeq = e.lastEventId || lastSeq;
    refreshAll();
  });
}

document.addEventListener("submit", async (e) => {
  const form = e.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
  e.preventDefault();
  const data = new URLSearchParams(new FormData(form, e.submitter));
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const r = await fetch(form.action, { method: "POST", body: data, headers: { "x-console-fetch": "1" } });
    const text = await r.text();
    if (r.ok) {
      flash(text);
      if (form.hasAttribute("data-reset")) form.reset();
      refreshAll();
    } else {
      flash(text, true);
    }
  } catch (err) {
    flash("The server cannot be reached; try again.", true);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
});

tick();
setInterval(tick, 1000);
setInterval(refreshAll, 30000);  // running costs and waits move without a change
listen();
