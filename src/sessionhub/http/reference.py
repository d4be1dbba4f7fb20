"""The API reference page (``GET /docs``): the OpenAPI document rendered as plain HTML on the server.

No script and nothing fetched from elsewhere, so it reads the same behind any firewall and in any
browser: one section per tag, one card per operation (parameters, body, responses, who may call
it), and the schemas at the end, each linked from where it is used. ``/openapi.json`` is the
machine-readable original; tools that want an interactive viewer load that.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem; color: #222; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 2px solid #ddd; margin-top: 2.5rem; }
.op { border: 1px solid #ddd; border-radius: .4rem; margin: 1rem 0; padding: .6rem 1rem; }
.m { display: inline-block; min-width: 4.5rem; font-weight: bold; font-family: monospace; }
.GET { color: #06c; } .POST { color: #080; } .PUT, .PATCH { color: #a60; } .DELETE { color: #c00; }
code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; }
table { border-collapse: collapse; margin: .3rem 0; } td, th { border: 1px solid #ddd; padding: .2rem .5rem;
 text-align: left; vertical-align: top; }
small { color: #666; } nav a { margin-right: 1rem; }
"""


def _ref(schema: dict[str, Any]) -> str:
    """A schema as a short inline text: a link for a $ref, else its JSON."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if schema.get("type") == "array" and "$ref" in schema.get("items", {}):
        return f"array of {_ref(schema['items'])}"
    return f"<code>{escape(json.dumps(schema, separators=(', ', ': ')))}</code>"


def _security(op: dict[str, Any], schemes: dict[str, Any]) -> str:
    if not op.get("security"):
        return "no key"
    ways = []
    for alternative in op["security"]:
        parts = []
        for name in alternative:
            s = schemes.get(name, {})
            parts.append(f"{s.get('in', 'header')} <code>{escape(s.get('name', 'Authorization: Bearer'))}</code>"
                         if s.get("type") == "apiKey" else "<code>Authorization: Bearer JWT</code>")
        ways.append(" + ".join(parts))
    return " or ".join(ways)


def _operation(method: str, path: str, op: dict[str, Any], schemes: dict[str, Any]) -> str:
    out = [f'<div class="op" id="{escape(op["operationId"])}"><div><span class="m {method}">{method}</span>'
           f"<code>{escape(path)}</code> — {escape(op.get('summary', ''))}</div>"]
    if op.get("description"):
        out.append(f"<p>{escape(op['description'])}</p>")
    out.append(f"<p><small>key: {_security(op, schemes)}</small></p>")
    if op.get("parameters"):
        out.append("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>")
        for p in op["parameters"]:
            req = " (required)" if p.get("required") else ""
            out.append(f"<tr><td><code>{escape(p['name'])}</code>{req}</td><td>{escape(p['in'])}</td>"
                       f"<td>{_ref(p.get('schema', {}))}</td><td>{escape(p.get('description', ''))}</td></tr>")
        out.append("</table>")
    body = op.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        out.append(f"<p>body ({escape(media)}): {_ref(content['schema'])}</p>")
    out.append("<table><tr><th>status</th><th>body</th><th></th></tr>")
    for status, response in op.get("responses", {}).items():
        shown = [f"{escape(m)}: {_ref(c['schema'])}" for m, c in response.get("content", {}).items()]
        headers = ", ".join(f"<code>{escape(h)}</code>" for h in response.get("headers", {}))
        out.append(f"<tr><td>{escape(status)}</td><td>{'<br>'.join(shown) or '-'}"
                   f"{' — headers ' + headers if headers else ''}</td>"
                   f"<td>{escape(response.get('description', ''))}</td></tr>")
    out.append("</table></div>")
    return "".join(out)


def render(spec: dict[str, Any]) -> str:
    """The page for OpenAPI document ``spec``."""
    schemes = spec.get("components", {}).get("securitySchemes", {})
    by_tag: dict[str, list[str]] = {t["name"]: [] for t in spec.get("tags", [])}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for tag in op.get("tags", ["other"]):
                by_tag.setdefault(tag, []).append(_operation(method.upper(), path, op, schemes))
    info = spec["info"]
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>{escape(info['title'])} API reference</title>",
           "<meta name='viewport' content='width=device-width, initial-scale=1'>",
           f"<style>{STYLE}</style></head><body>",
           f"<h1>{escape(info['title'])} API reference</h1><p><small>version {escape(info['version'])} — "
           "machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1)</small></p>",
           f"<p>{escape(info.get('description', ''))}</p><nav>",
           *(f"<a href='#tag-{escape(t)}'>{escape(t)}</a>" for t in by_tag), "<a href='#schemas'>schemas</a></nav>"]
    descriptions = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    for tag, ops in by_tag.items():
        out.append(f"<h2 id='tag-{escape(tag)}'>{escape(tag)}</h2><p>{escape(descriptions.get(tag, ''))}</p>")
        out.extend(ops)
    out.append("<h2 id='schemas'>schemas</h2>")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        shown = escape(json.dumps(schema, indent=2))
        out.append(f"<h3 id='schema-{escape(name)}'>{escape(name)}</h3><pre>{shown}</pre>")
    out.append("</body></html>")
    return "\n".join(out)
