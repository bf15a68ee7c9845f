// SPDX-License-Identifier: MIT
//
// web: the bikeshop's front end, first hop of web -> api -> data.
// Node's own http module only (no npm dependencies: it runs offline).
//
//   GET /             the page (public/index.html, app.js, style.css, read
//                     from disk on every request, so a synced edit shows at once)
//   GET /api/bikes    calls api's /bikes and answers JSON: who answered at
//                     each hop ("chain"), what this hop received, and api's answer
//   GET /healthz      "ok"
//
// The azds-route-as, baggage, traceparent and tracestate fields of a request
// go unchanged on the call to api: every field line, in order, value untouched.
// That is all a service does for azds to route alice's requests to alice's
// copies at every hop. A failing api gets a 502 (504 on a timeout) that
// names the failed hop. Settings: see the bikeshop README.
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const SERVICE = 'web';
// The fields a request carries down the chain, forwarded as they came.
const PROPAGATE = ['azds-route-as', 'baggage', 'traceparent', 'tracestate'];
const ANSWER_MAX = 1 << 20; // api's answer, in bytes
const STATIC = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

function fail(msg) {
  console.error(`${SERVICE}: ${msg}`);
  process.exit(2);
}

function envInt(name, dflt, min, max) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max)
    fail(`${name}=${v} is not a whole number from ${min} to ${max}`);
  return Number(v);
}

// Printable ASCII only: the value goes into a header and into JSON.
function envName(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (v.length > 253 || !/^[\x20-\x7e]+$/.test(v))
    fail(`${name} must be 1-253 printable ASCII characters`);
  return v;
}

const settings = {
  space: envName('AZDS_SPACE', 'unknown'),
  pod: envName('AZDS_POD', os.hostname() || 'unknown'),
  port: envInt('PORT', 80, 0, 65535),
  listenAddr: process.env.LISTEN_ADDR || '0.0.0.0',
  apiHost: process.env.API_HOST || 'api',
  apiPort: envInt('API_PORT', 80, 1, 65535),
  // longer than api's own (5 s): a slow data must be reported by api, the hop that saw it
  timeoutMs: envInt('UPSTREAM_TIMEOUT_MS', 10000, 1, 600000),
};

// The request's propagated fields: {name: [value, ...]} in arrival order.
// rawHeaders keeps repeated lines apart; Node sends an array as one line per value.
function propagated(req) {
  const out = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (PROPAGATE.includes(name)) (out[name] = out[name] || []).push(req.rawHeaders[i + 1]);
  }
  return out;
}

// What arrived, for the answer: repeated lines joined with ", " (RFC 9110 5.3), null if absent.
function received(req) {
  const got = propagated(req);
  const out = {};
  for (const name of PROPAGATE) out[name] = got[name] ? got[name].join(', ') : null;
  return out;
}

function identity() {
  return { service: SERVICE, space: settings.space, pod: settings.pod };
}

function send(req, res, status, type, body, extra) {
  const buf = Buffer.from(body);
  res.writeHead(status, Object.assign({
    'Content-Type': type,
    'Content-Length': buf.length,
    'X-Azds-Service': SERVICE,
    'X-Azds-Space': settings.space,
  }, extra || {}));
  res.end(req.method === 'HEAD' ? undefined : buf);
}

function sendJson(req, res, status, obj, extra) {
  send(req, res, status, 'application/json', JSON.stringify(obj) + '\n', extra);
}

function sendError(req, res, status, error, failedHop, upstream) {
  const body = Object.assign(identity(), { error, failed_hop: failedHop });
  if (upstream !== undefined) body.upstream = upstream;
  body.received = received(req);
  sendJson(req, res, status, body, failedHop ? { 'X-Failed-Hop': failedHop } : {});
}

// Why a call failed, in words a developer can act on.
function describe(err) {
  const where = `${settings.apiHost}:${settings.apiPort}`;
  switch (err.code) {
    case 'TIMEOUT': return `api did not answer within ${settings.timeoutMs} ms (${where})`;
    case 'ECONNREFUSED': return `api refused the connection (${where}): is it running?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return `cannot resolve api's host ${settings.apiHost}`;
    case 'ECONNRESET':
    case 'EPIPE': return `api closed the connection before answering (${where})`;
    case 'TOOBIG': return `api's answer is larger than ${ANSWER_MAX} bytes`;
    default: return `calling api (${where}) failed: ${err.message}`;
  }
}

// GET api /bikes with the propagated fields; done(err, status, body) once.
function callApi(req, done) {
  let finished = false;
  let timer = null;
  const finish = (err, status, body) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(err, status, body);
  };
  const headers = Object.assign(propagated(req), { accept: 'application/json' });
  let out;
  try {
    // agent: false, a connection per call: no idle pooled socket that the peer may close as we reuse it
    out = http.request({
      host: settings.apiHost, port: settings.apiPort, method: 'GET', path: '/bikes', headers, agent: false,
    }, onResponse);
  } catch (e) {
    finish(e); // a value Node refuses to send
    return;
  }
  function onResponse(res) {
    const chunks = [];
    let size = 0;
    res.on('data', (c) => {
      size += c.length;
      if (size > ANSWER_MAX) {
        const e = new Error('too big');
        e.code = 'TOOBIG';
        out.destroy();
        finish(e);
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => finish(null, res.statusCode, Buffer.concat(chunks).toString('utf8')));
    res.on('error', finish);
    res.on('close', () => {
      if (!res.complete) finish(Object.assign(new Error('cut short'), { code: 'ECONNRESET' }));
    });
  }
  // one deadline for the whole exchange: resolve, connect, send, answer
  timer = setTimeout(() => {
    out.destroy();
    finish(Object.assign(new Error('timeout'), { code: 'TIMEOUT' }));
  }, settings.timeoutMs);
  out.on('error', finish);
  out.end();
}

function parseJson(text) {
  try {
    const v = JSON.parse(text);
    return v !== null && typeof v === 'object' ? v : undefined;
  } catch (e) {
    return undefined;
  }
}

function hop(a) {
  return a && a.service ? `${a.service} (${a.space})` : '?';
}

function apiBikes(req, res) {
  callApi(req, (err, status, text) => {
    if (err) {
      sendError(req, res, err.code === 'TIMEOUT' ? 504 : 502, describe(err), 'web -> api');
      return;
    }
    const answer = parseJson(text);
    if (status === 200 && answer) {
      const body = identity();
      body.chain = [identity(), answer, answer.data].map(hop).join(' -> ');
      body.received = received(req);
      body.api = answer;
      sendJson(req, res, 200, body);
    } else if ((status === 502 || status === 504) && answer && answer.failed_hop) {
      // a hop further down failed: say which, with the same status
      sendError(req, res, status, `api answered ${status}: ${answer.error}`, answer.failed_hop, answer);
    } else if (status === 200) {
      sendError(req, res, 502, 'api answered something that is not a JSON object', 'web -> api',
        text.slice(0, 500));
    } else {
      sendError(req, res, 502, `api answered ${status}${answer && answer.error ? ': ' + answer.error : ''}`,
        'web -> api', answer !== undefined ? answer : text.slice(0, 500));
    }
  });
}

function serveStatic(req, res, file, type) {
  fs.readFile(path.join(__dirname, 'public', file), (err, data) => {
    if (err) sendJson(req, res, 500, Object.assign(identity(), { error: `cannot read public/${file}: ${err.code}` }));
    else send(req, res, 200, type, data);
  });
}

function handle(req, res) {
  const p = req.url.split('?')[0];
  res.on('finish', () => {
    const ra = req.headers['azds-route-as'];
    console.log(`${SERVICE}: ${req.method} ${req.url.slice(0, 200)} ${res.statusCode} route-as=${ra ? ra.slice(0, 64) : '-'}`);
  });
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(req, res, 405, Object.assign(identity(), { error: 'only GET and HEAD are answered here' }),
      { Allow: 'GET, HEAD' });
  } else if (p === '/api/bikes') {
    apiBikes(req, res);
  } else if (p === '/healthz') {
    send(req, res, 200, 'text/plain', 'ok\n');
  } else if (STATIC[p]) {
    serveStatic(req, res, STATIC[p][0], STATIC[p][1]);
  } else {
    sendJson(req, res, 404, Object.assign(identity(), { error: 'no such path', path: p.slice(0, 200) }));
  }
}

const server = http.createServer(handle);
server.on('error', (err) => fail(`cannot listen on ${settings.listenAddr} port ${settings.port}: ${err.message}`));
server.listen(settings.port, settings.listenAddr, () => {
  const a = server.address();
  const shown = a.family === 'IPv6' || a.family === 6 ? `[${a.address}]` : a.address;
  console.log(`${SERVICE}: listening on ${shown}:${a.port} (space ${settings.space}), api at ` +
    `${settings.apiHost}:${settings.apiPort}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    console.log(`${SERVICE}: stopping`);
    process.exit(0);
  });
}
