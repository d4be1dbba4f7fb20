// The console's one script (an ES module, no library, no build step).
//
// - Live regions: every element with data-live is re-fetched (its data-src, ?part=live, rendered by
//   the same server template as the page) when the console's change stream (/console/events, SSE)
//   announces a change of one of the page's topics (body data-topics). One fetch per region at a
//   time; changes that arrive meanwhile cause one more fetch, never a queue. A region with
//   data-rows (a garage's board, maybe thousands of rows) fetches only the changed session's row.
//   A share link's page (no sign-in) names its own stream instead (body data-events).
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
  painted(region, seq);
  tick();
}

// Updates of one region run one at a time: a whole refresh, or (a board with data-rows) one row per
// changed session, coalesced per session; a row that cannot be placed falls back to a whole refresh.
function schedule(region, session) {
  if (session == null || !region.dataset.rows) region.full = true;
  else (region.ids ||= new Set()).add(session);
  if (!region.running) run(region);
}

async function get(url) {
  const r = await fetch(url, { headers: { "x-console-fetch": "1" }, cache: "no-store" });
  if (r.status === 401) {
    location.assign(`${prefix}/signin?next=${encodeURIComponent(location.pathname)}`);
    throw new Error("signed out");
  }
  return r;
}

async function whole(region, seq) {
  const r = await get(region.dataset.src);
  if (!r.ok) { flash(await r.text(), true); return; }
  swap(region, await r.text(), seq);
}

function painted(region, seq) {
  region.dataset.paintedSeq = seq;
  body.dataset.paintedSeq = seq;
  body.dataset.paintedAt = String(performance.timeOrigin + performance.now());
}

async function one(region, id, seq) {
  const r = await get(region.dataset.rows + id);
  if (!r.ok) return false;
  const t = document.createElement("template");
  t.innerHTML = (await r.text()).trim();
  const row = t.content.querySelector("tr[data-list]");
  const list = row && region.querySelector(`[data-list="${row.dataset.list}"] tbody`);
  const old = region.querySelector(`#ps-${id}`);
  if (!list) return false;  // its list was empty (no table yet): render the board whole
  const was = old ? old.dataset.list : null;
  const oldBody = old ? old.parentElement : null;
  if (old) old.remove();
  if (row.dataset.list === "recent") {
    list.prepend(row);
    const keep = Number(list.closest("[data-keep]")?.dataset.keep || 25);
    while (list.rows.length > keep) list.lastElementChild.remove();
  } else {  // by id, as the board lists them
    const after = [...list.rows].find((tr) => Number(tr.id.slice(3)) > id);
    list.insertBefore(row, after || null);
  }
  const count = (name) => region.querySelector(`[data-list="${name}"] tbody`)?.rows.length || 0;
  const set = (name, v) => { const el = region.querySelector(`#${name}`); if (el) el.textContent = String(v); };
  set("inside-count", count("active"));
  set("pending-count", count("pending"));
  if (row.dataset.list === "recent" && was !== "recent") {
    const ended = region.querySelector("#ended-count");
    if (ended) ended.textContent = String(Number(ended.textContent) + 1);
  }
  painted(region, seq);
  tick();
  return !(oldBody && oldBody.rows.length === 0);  // a list left empty: render it whole ("Nobody inside.")
}

async function run(region) {
  region.running = true;
  try {
    while (region.full || (region.ids && region.ids.size)) {
      const seq = lastSeq;
      if (region.full) {
        region.full = false;
        if (region.ids) region.ids.clear();
        await whole(region, seq);
        continue;
      }
      const [id] = region.ids;
      region.ids.delete(id);
      if (!(await one(region, id, seq))) region.full = true;
    }
  } catch (err) {
    setState("offline", false);
  } finally {
    region.running = false;
  }
}

function refreshAll() { for (const region of regions) schedule(region, null); }

function listen() {
  // a share link's page follows its own stream (body data-events: the link's one object);
  // a console page the console's stream of its topics
  const topics = (body.dataset.topics || "").split(" ").filter(Boolean);
  if (!topics.length && !body.dataset.events) {  // a page with nothing live on it (admin): no live state to show
    if (stateEl) stateEl.hidden = true;
    return;
  }
  const q = new URLSearchParams(topics.map((t) => ["t", t]));
  if (lastSeq) q.set("since", lastSeq);
  const source = new EventSource(body.dataset.events ? `${body.dataset.events}?${q}` : `${prefix}/events?${q}`);
  let opened = false;
  source.onopen = () => {
    setState("live", true);
    if (opened) refreshAll();  // a reconnect: whatever changed while away
    opened = true;
  };
  source.onerror = () => setState("reconnecting", false);
  source.addEventListener("change", (e) => {
    lastSeq = e.lastEventId || lastSeq;
    const change = JSON.parse(e.data);
    for (const region of regions) schedule(region, change.session ?? null);
  });
}

document.addEventListener("submit", async (e) => {
  const form = e.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
  e.preventDefault();
  const data = new URLSearchParams(new FormData(form, e.submitter));
  // a row's button may name its own target (formaction); the forms it belongs to have no buttons
  const action = e.submitter && e.submitter.hasAttribute("formaction") ? e.submitter.formAction : form.action;
  const buttons = e.submitter && !form.contains(e.submitter) ? [e.submitter] : [...form.querySelectorAll("button")];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const r = await fetch(action, { method: "POST", body: data, headers: { "x-console-fetch": "1" } });
    const text = await r.text();
    if (r.ok) {
      flash(text);
      if (form.hasAttribute("data-reset")) form.reset();
      if (!stateEl || !stateEl.classList.contains("ok")) refreshAll();  // else the change stream brings it
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
