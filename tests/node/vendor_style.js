// A request written the way the LRS docs' examples are: JSON.parse(res.payload) first, then the code
// check (an empty payload makes JSON.parse throw, and the process exits non-zero).
//   node vendor_style.js METHOD PATHNAME [QUERY] [JSON_BODY]
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
  let json = JSON.parse(res.payload.toString('utf-8'));
  if (res.code[0] === '2') {
    console.log(JSON.stringify({code: res.code, json: json}));
  } else {
    console.error(json);
  }
  process.exit(0);
});
req.on('error', err => { console.error(String(err)); process.exit(1); });
if (body) req.write(body);
req.end();
