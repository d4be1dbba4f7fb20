// OBSERVE /v1/notify as the LRS docs describe it (Observe: 0, optional ?action=get_sessions):
// prints "ready" and then every notification payload as one JSON line, for SECONDS seconds.
//   node observe.js [QUERY] [SECONDS]
const coap = require('coap');
const [query, seconds] = process.argv.slice(2);
let req = coap.request({
  host: process.env.HOST,
  port: Number(process.env.PORT),
  pathname: '/v1/notify',
  query: query || '',
  method: 'GET',
  observe: true
});
req.on('response', res => {
  const first = res.payload.toString('utf-8');
  console.log(JSON.stringify({ready: true, code: res.code, first: JSON.parse(first)}));
  res.on('data', chunk => console.log(chunk.toString('utf-8')));
  setTimeout(() => { res.close(); process.exit(0); }, Number(seconds || 5) * 1000);
});
req.on('error', err => { console.error(String(err)); process.exit(1); });
req.end();
