// One request in the style of the LRS docs' examples (coap.request({host, port, pathname, query,
// method, options}) + req.write(JSON.stringify(body))); prints {"code", "payload"} as one JSON line.
//   node lrs_request.js METHOD PATHNAME [QUERY] [JSON_BODY]
const coap = require('coap');
const [method, pathname, query, body] = process.argv.slice(2);
let req = coap.request({
  host: process.env.HOST,
  port: Number(process.env.PORT),
  pathname: pathname,
  query: query || '',
  method: method,
  options: body ? {'Content-Format': 'application/json'} : {}
});
req.on('response', res => {
  const text = res.payload.toString('utf-8');
  console.log(JSON.stringify({code: res.code, payload: text ? JSON.parse(text) : null}));
  process.exit(0);
});
req.on('error', err => { console.error(String(err)); process.exit(1); });
if (body) req.write(body);
req.end();
