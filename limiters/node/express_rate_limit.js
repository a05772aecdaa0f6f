'use strict';
// express-rate-limit's middleware (its own MemoryStore) on an express app: POST
// /v1/chat/completions, keyed by the Authorization header, with the IETF draft headers it
// writes itself. Its truth: ../TRUTH.md.
// Usage: node express_rate_limit.js PORT LIMIT WINDOW_MS HEADERS (draft-6, draft-7 or draft-8)
const express = require('express');
const { randomUUID } = require('node:crypto');
const { rateLimit } = require('express-rate-limit');

const [port, limit, windowMs] = process.argv.slice(2, 5).map(Number);
const standardHeaders = process.argv[5] || 'draft-8';

const app = express();
// What the harness's runner reads its model id from; not limited.
app.get('/v1/models', (req, res) => res.json({ object: 'list',
  data: [{ id: 'static-model', object: 'model' }] }));
app.post('/v1/chat/completions', rateLimit({
  windowMs,
  limit,
  standardHeaders,
  legacyHeaders: false,
  keyGenerator: (req) => req.get('authorization') || '',
  message: { error: { message: 'rate limited' } },
}), (req, res) => {
  const id = randomUUID();
  res.json({ id: `chatcmpl-${id}`, request_id: id, object: 'chat.completion',
    choices: [{ index: 0, finish_reason: 'stop',
      message: { role: 'assistant', content: 'ok' } }] });
});
app.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
