'use strict';
// rate-limiter-flexible's RateLimiterMemory behind node's own http server: one consume() per
// POST /v1/chat/completions, keyed by the Authorization header. Its truth: ../TRUTH.md.
// Usage: node flexible.js PORT POINTS DURATION_S BLOCK_DURATION_S
const http = require('node:http');
const { randomUUID } = require('node:crypto');
const { RateLimiterMemory } = require('rate-limiter-flexible');

const [port, points, duration, blockDuration] = process.argv.slice(2).map(Number);
const limiter = new RateLimiterMemory({ points, duration, blockDuration });

// What the harness's runner reads its model id from (the first of the list).
const MODELS = { object: 'list', data: [{ id: 'static-model', object: 'model' }] };

function send(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(data);
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/v1/models') {  // not limited
      return send(res, 200, MODELS);
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      return send(res, 404, { error: { message: 'not found' } });
    }
    limiter.consume(req.headers.authorization || '').then(() => {
      const id = randomUUID();
      send(res, 200, { id: `chatcmpl-${id}`, request_id: id, object: 'chat.completion',
        choices: [{ index: 0, finish_reason: 'stop',
          message: { role: 'assistant', content: 'ok' } }] });
    }, (refusal) => {
      if (refusal instanceof Error) {
        return send(res, 500, { error: { message: String(refusal) } });
      }
      // The library leaves the answer to its caller; its README's example sends
      // msBeforeNext in seconds as Retry-After. HTTP wants whole seconds: rounded up.
      send(res, 429, { error: { message: 'rate limited' } },
        { 'Retry-After': String(Math.ceil(refusal.msBeforeNext / 1000)) });
    });
  });
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
