"""``GET /live?stream=PATH``: a page for a screen that shows one stream of this server, live.

The browser's own EventSource opens ``PATH`` (same origin, so no CORS), keeps the last document on
screen, and reconnects by itself with ``Last-Event-ID`` when the server goes away and comes back.
Keys go in the stream's query string (``access_key=`` or ``api_key=``), since EventSource cannot set
headers. The page is static: everything it shows comes from the stream.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from sessionhub.http.openapi import HTML, Docs, Param

docs = Docs("pages", [], None, description="Pages for people: the live view and the API reference.")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sessionhub live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font: 16px system-ui, sans-serif; margin: 1.5rem; background: #111; color: #eee; }
 #state { font-weight: bold; } .open { color: #6c6; } .closed { color: #e66; }
 pre { background: #222; padding: 1rem; border-radius: .5rem; white-space: pre-wrap; }
 small { color: #999; }
</style></head>
<body>
<h1>sessionhub live</h1>
<p><span id="state" class="closed">connecting</span> <small>events: <span id="count">0</span>,
 last id: <span id="last">-</span>, kind: <span id="kind">-</span></small></p>
<pre id="doc">waiting for the first event</pre>
<script>
 const stream = new URLSearchParams(location.search).get("stream");
 const state = document.getElementById("state");
 let count = 0;
 function show(kind, e) {
   count += 1;
   document.getElementById("count").textContent = count;
   document.getElementById("last").textContent = e.lastEventId || "-";
   document.getElementById("kind").textContent = kind;
   document.getElementById("doc").textContent = JSON.stringify(JSON.parse(e.data), null, 2);
 }
 if (!stream || !stream.startsWith("/")) {
   state.textContent = "give ?stream=/path/of/a/stream";
 } else {
   const source = new EventSource(stream);
   source.onopen = () => { state.textContent = "live"; state.className = "open"; };
   source.onerror = () => { state.textContent = "reconnecting"; state.className = "closed"; };
   source.onmessage = (e) => show("message", e);
   for (const kind of ["sessions", "session", "data", "patch", "deleted"]) {
     source.addEventListener(kind, (e) => show(kind, e));
   }
 }
</script>
</body></html>
"""


@docs.op("A page that shows one stream of this server live (browser EventSource)", "html", media=HTML, errors=(),
         query=[Param("stream", {"type": "string"}, "the stream's path, keys in its query string")])
async def live_page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"cache-control": "no-cache"})
