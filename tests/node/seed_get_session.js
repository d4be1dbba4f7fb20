// The seed's example code (tests/seeds/lrs-coap-get-session.md), verbatim except the host and
// port, which come from the environment (HOST, PORT) instead of 10.0.1.32:5683.
// Using node-coap (yarn add coap, npm install coap): https://github.com/mcollina/node-coap
const coap = require('coap');
// Retrieving session with number 23
let req = coap.request({
host: process.env.HOST,
port: Number(process.env.PORT),
pathname: '/v1/sessions',
query: 'number=23',
method: 'GET'
});
req.on('response', res => {
let json = JSON.parse(res.payload.toString('utf-8'));
if (res.code[0] === '2') { // Success
// Will return array of sessions for consistency with /v1/sessions,
// so first index should be retrieved.
console.log(json.sessions[0]);
} else if (res.code === '4.04') {
// ~404 Not Found.
console.log("Session does not exist.");
} else {
// Some other error.
console.error(json);
}
});
// Send request
req.end();
