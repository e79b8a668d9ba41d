// The upstream client (pipeline/forward.ts and upstream-connection.ts) against
// real loopback TCP and TLS servers that read and write exact bytes: request
// framing, keep-alive reuse and when a connection must not be reused, response
// framings (length, chunked, until close, HEAD, 1xx), bad responses, timeouts,
// backpressure, aborts, pool limits and TLS verification.
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { PassThrough } from 'node:stream';
import { UpstreamPool, type UpstreamHandler, type UpstreamTarget } from '../../src/pipeline/forward.ts';
import { requestHead } from '../../src/pipeline/upstream-connection.ts';
import { upstreamFailure } from '../../src/pipeline/relay.ts';
import { createTestCa } from '../helpers/pki.ts';

interface Conn {
  socket: net.Socket;
  /** Everything received on this connection so far. */
  received: () => string;
  /** Resolves once `text` has been received (from the start of the connection). */
  until: (text: string, count?: number) => Promise<void>;
}

/** A raw upstream: `onConn` scripts each accepted connection. */
async function rawUpstream(onConn: (c: Conn, index: number) => void | Promise<void>, secure?: { key: string; cert: string }) {
  const conns: Conn[] = [];
  const accept = (socket: net.Socket): void => {
    let data = '';
    const waiters: Array<() => void> = [];
    socket.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      for (const w of waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    const c: Conn = {
      socket,
      received: () => data,
      until: (text, count = 1) =>
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (data.split(text).length - 1 >= count) resolve();
            else waiters.push(check);
          };
          check();
        }),
    };
    conns.push(c);
    void onConn(c, conns.length - 1);
  };
  const server = secure ? tls.createServer({ key: secure.key, cert: secure.cert }, accept) : net.createServer(accept);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    conns,
    close: () => {
      for (const c of conns) c.socket.destroy();
      server.close();
    },
  };
}

/** The index-th accepted connection, once it is there. */
async function accepted(conns: Conn[], index: number): Promise<Conn> {
  for (let i = 0; i < 200 && conns[index] === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  return conns[index] as Conn;
}

interface Outcome {
  status?: number;
  statusText?: string;
  headers?: string[];
  body: string;
  completed: boolean;
  error?: Error & { code?: string };
  events: string[];
}

/** Sends one request and collects what the handler hears. */
function send(pool: UpstreamPool, target: UpstreamTarget, opts: { method?: string; path?: string; headers?: string[]; body?: NodeJS.ReadableStream | Buffer | null; timeoutMs?: number; onHeaders?: (resume: () => void) => boolean; onData?: (chunk: Buffer) => boolean; abortRef?: { abort?: (err?: Error) => void } } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: '', completed: false, events: [] };
    const handler: UpstreamHandler = {
      onConnect(abort) {
        out.events.push('connect');
        if (opts.abortRef) opts.abortRef.abort = abort;
      },
      onHeaders(status, headers, resume, statusText) {
        out.events.push(`headers ${status}`);
        out.status = status;
        out.statusText = statusText;
        out.headers = headers;
        return opts.onHeaders ? opts.onHeaders(resume) : true;
      },
      onData(chunk) {
        out.body += chunk.toString('latin1');
        return opts.onData ? opts.onData(chunk) : true;
      },
      onComplete() {
        out.events.push('complete');
        out.completed = true;
        resolve(out);
      },
      onError(err) {
        out.events.push(`error ${(err as Error & { code?: string }).code}`);
        out.error = err as Error & { code?: string };
        resolve(out);
      },
    };
    pool.request(target, opts.method ?? 'GET', opts.path ?? '/v1/x', opts.headers ?? ['Host', 'api.test'], opts.body ?? null, opts.timeoutMs ?? 5000, handler);
  });
}

const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const target = (port: number, over: Partial<UpstreamTarget> = {}): UpstreamTarget => ({ tls: false, host: 'api.test', port, address: '127.0.0.1', credentialId: 'c1', ...over });
const newPool = (over: { maxSocketsPerAgent?: number; idleTimeoutMs?: number; connectTimeoutMs?: number; extraCa?: string[] } = {}) => new UpstreamPool({ extraCa: over.extraCa ?? [], maxAgents: 8, maxSocketsPerAgent: over.maxSocketsPerAgent ?? 4, idleTimeoutMs: over.idleTimeoutMs ?? 5000, ...(over.connectTimeoutMs ? { connectTimeoutMs: over.connectTimeoutMs } : {}) });

t.test('request head: the request line, the headers as given, and framing for the body', async (t) => {
  t.equal(requestHead('GET', '/a?b=1', ['Host', 'h', 'X-A', '1'], null).head, 'GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n');
  t.equal(requestHead('POST', '/', ['Host', 'h'], null).head, 'POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\n\r\n', 'a method that expects a body says it has none');
  t.equal(requestHead('PUT', '/', ['Host', 'h'], Buffer.from('abc')).head, 'PUT / HTTP/1.1\r\nHost: h\r\ncontent-length: 3\r\n\r\n');
  t.same(requestHead('POST', '/', ['Host', 'h'], new PassThrough()), { head: 'POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n', chunked: true });
  t.same(requestHead('POST', '/', ['Host', 'h', 'Content-Length', '5'], new PassThrough()), { head: 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n', chunked: false }, "the app's length is kept and the body goes as it is");
  for (const [name, value] of [['X-A', 'v\r\nX-Injected: 1'], ['X-A', 'v\nb'], ['X-A', 'v\0'], ['X A', 'v'], ['X-A:', 'v'], ['', 'v']] as const) {
    t.throws(() => requestHead('GET', '/', ['Host', 'h', name, value], null), { code: 'ERR_UPSTREAM_REQUEST_INVALID' }, `refused: ${JSON.stringify([name, value])}`);
  }
  t.throws(() => requestHead('GET', '/a b', ['Host', 'h'], null), { code: 'ERR_UPSTREAM_REQUEST_INVALID' });
  t.throws(() => requestHead('GET', '/a\r\nX: 1', ['Host', 'h'], null), { code: 'ERR_UPSTREAM_REQUEST_INVALID' });
  t.throws(() => requestHead('G T', '/', ['Host', 'h'], null), { code: 'ERR_UPSTREAM_REQUEST_INVALID' });
  t.throws(() => requestHead('GET', '', ['Host', 'h'], null), { code: 'ERR_UPSTREAM_REQUEST_INVALID' });
});

t.test('keep-alive: one connection carries successive exchanges; the bytes on the wire are exact', async (t) => {
  const up = await rawUpstream(async (c) => {
    await c.until('\r\n\r\n', 1);
    c.socket.write(ok('one'));
    await c.until('\r\n\r\n', 2);
    c.socket.write(ok('two', 'X-B: 2\r\n'));
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  const a = await send(pool, target(up.port), { headers: ['Host', 'api.test', 'Authorization', 'Bearer T'] });
  t.same([a.status, a.body, a.completed, a.events], [200, 'one', true, ['connect', 'headers 200', 'complete']]);
  const b = await send(pool, target(up.port), { method: 'POST', path: '/v1/y' });
  t.same([b.status, b.body, b.headers], [200, 'two', ['Content-Length', '3', 'X-B', '2']], 'headers as sent, in order');
  t.equal(up.conns.length, 1, 'the second request rode the first connection');
  t.equal(up.conns[0]!.received(), 'GET /v1/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer T\r\n\r\nPOST /v1/y HTTP/1.1\r\nHost: api.test\r\ncontent-length: 0\r\n\r\n');
});

t.test('a different credential or destination never shares a connection', async (t) => {
  const up = await rawUpstream(async (c) => {
    for (let n = 1; ; n++) {
      await c.until('\r\n\r\n', n);
      c.socket.write(ok('x'));
    }
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  await send(pool, target(up.port));
  await send(pool, target(up.port, { credentialId: 'c2' }));
  await send(pool, target(up.port, { credentialId: null }));
  await send(pool, target(up.port));
  t.equal(up.conns.length, 3, 'one connection per credential');
  t.equal(pool.size, 3);
});

t.test('a released credential: its idle connections close at once, an exchange under way finishes and then its connection closes', async (t) => {
  let answer!: () => void;
  const held = new Promise<void>((r) => (answer = r));
  const up = await rawUpstream(async (c, index) => {
    for (let n = 1; ; n++) {
      await c.until('\r\n\r\n', n);
      if (index === 2) await held;
      c.socket.write(ok(`conn ${index}`));
    }
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  const closed = (i: number) => new Promise<void>((r) => (up.conns[i]!.socket.closed ? r() : up.conns[i]!.socket.once('close', () => r())));
  t.equal((await send(pool, target(up.port))).body, 'conn 0', 'c1 on its own connection, now idle');
  await send(pool, target(up.port, { credentialId: null }));
  const busy = send(pool, target(up.port, { credentialId: 'c2' }));
  await (await accepted(up.conns, 2)).until('\r\n\r\n');
  t.equal(pool.size, 3);
  pool.dropCredential('c1');
  pool.dropCredential('c2');
  t.equal(pool.size, 1, 'only the pool without a credential stays');
  await closed(0);
  t.pass("c1's idle connection was closed");
  answer();
  const b = await busy;
  t.same([b.status, b.body, b.completed], [200, 'conn 2', true], 'the exchange under way with c2 completed');
  await closed(2);
  t.pass("then c2's connection was closed instead of idling");
  t.notOk(up.conns[1]!.socket.closed, 'the connection without a credential is untouched');
  t.equal((await send(pool, target(up.port))).body, 'conn 3', 'c1 again (there should be none): a new pool, a new connection');
});

t.test('response framings: chunked, until close, HEAD, 204, 1xx before the final answer, many headers', async (t) => {
  const script = [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', // to HEAD: no body follows
    'HTTP/1.1 204 No Content\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' + ok('final'),
    `HTTP/1.1 200 OK\r\n${Array.from({ length: 40 }, (_, i) => `X-H${i}: v${i}\r\n`).join('')}Content-Length: 2\r\n\r\nok`,
    'HTTP/1.1 200 OK\r\n\r\nuntil the end',
  ];
  const up = await rawUpstream(async (c) => {
    for (let n = 0; n < script.length; n++) {
      await c.until('\r\n\r\n', n + 1);
      c.socket.write(script[n]!);
    }
    c.socket.end();
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  const chunked = await send(pool, target(up.port));
  t.same([chunked.status, chunked.body], [200, 'abcdefg']);
  const head = await send(pool, target(up.port), { method: 'HEAD' });
  t.same([head.status, head.body, head.completed], [200, '', true], 'a HEAD response has no body, whatever its length says');
  const empty = await send(pool, target(up.port));
  t.same([empty.status, empty.body, empty.completed], [204, '', true]);
  const interim = await send(pool, target(up.port));
  t.same([interim.status, interim.body, interim.events], [200, 'final', ['connect', 'headers 200', 'complete']], 'the 1xx answers are not passed on');
  const many = await send(pool, target(up.port));
  t.equal(many.headers!.length, 82, 'all 41 headers arrive (past the parser’s 32-at-once batch)');
  t.same(many.headers!.slice(78), ['X-H39', 'v39', 'Content-Length', '2']);
  const untilClose = await send(pool, target(up.port));
  t.same([untilClose.status, untilClose.body, untilClose.completed], [200, 'until the end', true], 'a response without a length ends with the connection');
  t.equal(up.conns.length, 1, 'all on one connection');
});

t.test('bad responses fail the exchange, and the connection is never reused', async (t) => {
  const replies = ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', 'garbage\r\n\r\n', 'HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 0\r\n\r\n', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`];
  const up = await rawUpstream(async (c, i) => {
    await c.until('\r\n\r\n');
    c.socket.write(replies[i]!);
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  for (const reply of replies) {
    const r = await send(pool, target(up.port));
    t.match(r.error?.code, /^HPE_/, `refused: ${JSON.stringify(reply.slice(0, 60))}`);
    t.notOk(r.completed);
    t.equal(upstreamFailure(r.error!, 'p/a').code, 'upstream-invalid');
  }
  t.equal(up.conns.length, replies.length, 'a new connection each time');
});

t.test('an upstream that answers twice or closes early: the exchange fails or the connection is dropped', async (t) => {
  let n = 0;
  const up = await rawUpstream(async (c) => {
    await c.until('\r\n\r\n');
    n++;
    if (n === 1) c.socket.write(ok('a') + ok('unasked')); // one answer too many
    else if (n === 2) c.socket.end(); // closes before any answer
    else if (n === 3) c.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'); // closes mid-body
    else c.socket.write(ok('fine'));
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  const first = await send(pool, target(up.port));
  t.same([first.status, first.body, first.completed], [200, 'a', true]);
  const second = await send(pool, target(up.port));
  t.equal(up.conns.length, 2, 'the connection that answered twice was not reused');
  t.equal(second.error?.code, 'ERR_UPSTREAM_CLOSED', 'closed before answering');
  t.equal(upstreamFailure(second.error!, undefined).code, 'upstream-unreachable');
  const third = await send(pool, target(up.port));
  t.same([third.status, third.body, third.completed, third.error?.code], [200, 'short', false, 'HPE_INVALID_EOF_STATE'], 'the head arrived, then the body was cut: an error after the head');
  const fourth = await send(pool, target(up.port));
  t.same([fourth.status, fourth.body], [200, 'fine']);
});

t.test('an idle connection the upstream closed is not reused, and idle connections time out', async (t) => {
  const up = await rawUpstream(async (c, i) => {
    await c.until('\r\n\r\n');
    c.socket.write(ok('x', 'Connection: keep-alive\r\n'));
    if (i === 0) setTimeout(() => c.socket.end(), 50); // the upstream's own idle timeout
  });
  const pool = newPool({ idleTimeoutMs: 300 });
  t.teardown(() => (pool.close(), up.close()));
  t.equal((await send(pool, target(up.port))).status, 200);
  await new Promise((r) => setTimeout(r, 150));
  t.equal((await send(pool, target(up.port))).status, 200, 'sent on a new connection, not the closed one');
  t.equal(up.conns.length, 2);
  const started = Date.now();
  await new Promise<void>((r) => up.conns[1]!.socket.once('end', () => r()));
  t.ok(Date.now() - started < 2000, 'the idle connection was closed by the pool after its idle timeout');
});

t.test('Connection: close and HTTP/1.0 answers close the connection after the response', async (t) => {
  const replies = [ok('a', 'Connection: close\r\n'), 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb', ok('c')];
  const up = await rawUpstream(async (c, i) => {
    await c.until('\r\n\r\n');
    c.socket.write(replies[i]!);
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  t.equal((await send(pool, target(up.port))).body, 'a');
  t.equal((await send(pool, target(up.port))).body, 'b');
  t.equal((await send(pool, target(up.port))).body, 'c');
  t.equal(up.conns.length, 3);
});

t.test('timeouts: for the head, between body chunks, and for the handshake', async (t) => {
  const up = await rawUpstream(async (c, i) => {
    await c.until('\r\n\r\n');
    if (i === 1) c.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'); // then silence
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  const head = await send(pool, target(up.port), { timeoutMs: 200 });
  t.equal(head.error?.code, 'ERR_UPSTREAM_HEADERS_TIMEOUT');
  t.match(upstreamFailure(head.error!, undefined), { code: 'upstream-unreachable', message: /timed out/ });
  const body = await send(pool, target(up.port), { timeoutMs: 200 });
  t.same([body.status, body.body, body.error?.code], [200, 'abc', 'ERR_UPSTREAM_BODY_TIMEOUT']);
  // a TCP listener that never answers the TLS handshake
  const mute = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  const tlsPool = newPool({ connectTimeoutMs: 200 });
  t.teardown(() => (tlsPool.close(), mute.close()));
  const hs = await send(tlsPool, target((mute.address() as net.AddressInfo).port, { tls: true }), { timeoutMs: 5000 });
  t.equal(hs.error?.code, 'ERR_UPSTREAM_CONNECT_TIMEOUT');
  t.match(upstreamFailure(hs.error!, undefined), { message: /timed out/ });
});

t.test('request bodies: streamed chunked, streamed with the app’s length, buffered; an app that stops sending fails the exchange', async (t) => {
  const up = await rawUpstream(async (c, i) => {
    if (i === 3) return; // never answers: the app's body breaks off first
    await c.until(i === 0 ? '0\r\n\r\n' : i === 1 ? 'hello' : 'signed');
    c.socket.write(ok('got'));
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  const chunkedBody = new PassThrough();
  const chunked = send(pool, target(up.port), { method: 'POST', body: chunkedBody });
  chunkedBody.write('ab');
  setTimeout(() => chunkedBody.end('cde'), 20);
  t.equal((await chunked).body, 'got');
  t.equal(up.conns[0]!.received(), 'POST /v1/x HTTP/1.1\r\nHost: api.test\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n');
  // the first connection is idle again, so stream on a second destination to get a new one
  const lengthBody = new PassThrough();
  const withLength = send(pool, target(up.port, { credentialId: 'c2' }), { method: 'PUT', headers: ['Host', 'api.test', 'Content-Length', '5'], body: lengthBody });
  lengthBody.end('hello');
  t.equal((await withLength).body, 'got');
  t.equal(up.conns[1]!.received(), 'PUT /v1/x HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\n\r\nhello');
  const buffered = await send(pool, target(up.port, { credentialId: 'c3' }), { method: 'POST', body: Buffer.from('signed') });
  t.equal(buffered.body, 'got');
  t.equal(up.conns[2]!.received(), 'POST /v1/x HTTP/1.1\r\nHost: api.test\r\ncontent-length: 6\r\n\r\nsigned');
  const broken = new PassThrough();
  const cut = send(pool, target(up.port, { credentialId: 'c4' }), { method: 'POST', body: broken });
  broken.write('part');
  setTimeout(() => broken.destroy(new Error('app went away')), 20);
  t.equal((await cut).error?.code, 'ERR_REQUEST_BODY_ABORTED');
  await new Promise((r) => setTimeout(r, 50));
  t.ok(up.conns[3]!.socket.destroyed || up.conns[3]!.socket.readableEnded, 'the upstream connection was closed: the request cannot be completed');
});

t.test('an answer before the request body is all sent is passed on, and the connection is closed', async (t) => {
  const up = await rawUpstream(async (c) => {
    await c.until('\r\n\r\n');
    c.socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!');
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  const body = new PassThrough();
  body.write('start');
  const r = await send(pool, target(up.port), { method: 'POST', body });
  t.same([r.status, r.body, r.completed], [413, 'big!', true]);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(body.listenerCount('data'), 0, 'the app body is no longer read');
  t.ok(up.conns[0]!.socket.destroyed || up.conns[0]!.socket.readableEnded, 'closed, not returned to the pool');
});

t.test('backpressure: a paused response body is not read further until resumed', async (t) => {
  const big = 'x'.repeat(4 * 1024 * 1024);
  const up = await rawUpstream(async (c) => {
    await c.until('\r\n\r\n');
    c.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`, () => setTimeout(() => c.socket.end(), 50));
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  let resume: (() => void) | null = null;
  let chunks = 0;
  let total = 0;
  const pending = send(pool, target(up.port), {
    onHeaders: (r) => ((resume = r), true),
    onData: (chunk) => ((chunks++, (total += chunk.length)), false), // pauses after every chunk, the last one too
  });
  await new Promise((r) => setTimeout(r, 200));
  const whilePaused = chunks;
  t.ok(whilePaused >= 1 && whilePaused < 16, `reading stopped while paused (${whilePaused} chunks read, of a 4 MiB body)`);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(chunks, whilePaused, 'nothing more arrived while paused');
  // resume for every later chunk too
  const done = pending;
  const timer = setInterval(() => total < big.length && resume?.(), 5);
  const r = await done;
  clearInterval(timer);
  t.equal(r.body.length, big.length, 'the whole body, once resumed');
  // the upstream then closes the idle connection: the pool sees it, though the last chunk had paused reading
  await new Promise((r) => setTimeout(r, 150));
  const next = await send(pool, target(up.port));
  t.same([next.status, up.conns.length], [200, 2], 'the next request went on a new connection');
});

t.test('aborts: a queued request is never sent; a sent one closes its connection; the pool limit holds', async (t) => {
  const release: Array<() => void> = [];
  const up = await rawUpstream(async (c) => {
    for (let n = 1; ; n++) {
      await c.until('\r\n\r\n', n);
      await new Promise<void>((r) => release.push(r));
      c.socket.write(ok(`r${n}`));
    }
  });
  const pool = newPool({ maxSocketsPerAgent: 1 });
  t.teardown(() => (pool.close(), up.close()));
  const first = send(pool, target(up.port), { path: '/first' });
  const abortRef: { abort?: (err?: Error) => void } = {};
  const queued = send(pool, target(up.port), { path: '/queued', abortRef });
  const third = send(pool, target(up.port), { path: '/third' });
  await (await accepted(up.conns, 0)).until('/first');
  abortRef.abort?.();
  release.shift()!();
  t.equal((await first).body, 'r1');
  await up.conns[0]!.until('/third');
  release.shift()!();
  t.equal((await third).body, 'r2', 'the queued request behind it went next, on the same connection');
  t.notMatch(up.conns.map((c) => c.received()).join(''), /queued/, 'the aborted request was never sent');
  t.equal(up.conns.length, 1, 'never more than one connection');
  void queued;
  // abort mid-exchange: the connection is closed, not reused
  const midRef: { abort?: (err?: Error) => void } = {};
  void send(pool, target(up.port), { path: '/mid', abortRef: midRef });
  await up.conns[0]!.until('/mid');
  midRef.abort?.();
  await new Promise((r) => setTimeout(r, 50));
  t.ok(up.conns[0]!.socket.destroyed || up.conns[0]!.socket.readableEnded, 'the connection carrying the aborted exchange was closed');
  const next = send(pool, target(up.port), { path: '/next' });
  await new Promise((r) => setTimeout(r, 50));
  release.splice(0).forEach((r) => r());
  await (await accepted(up.conns, 1)).until('/next');
  release.splice(0).forEach((r) => r());
  t.equal((await next).body, 'r1', 'a new connection for the next request');
});

t.test('TLS: the certificate must be valid for the destination name; nothing is written to an upstream that fails', async (t) => {
  const ca = await createTestCa();
  const leaf = await ca.issue(['api.test']);
  const up = await rawUpstream(async (c) => {
    await c.until('\r\n\r\n');
    c.socket.write(ok('secure'));
  }, leaf);
  const pool = newPool({ extraCa: [ca.cert] });
  t.teardown(() => (pool.close(), up.close()));
  const good = await send(pool, target(up.port, { tls: true }));
  t.same([good.status, good.body], [200, 'secure']);
  // a second connection of the same pool resumes the first one's session
  const c1 = (await accepted(up.conns, 0)).socket as tls.TLSSocket;
  t.notOk(c1.isSessionReused(), 'the first handshake is a full one');
  c1.end();
  await new Promise((r) => setTimeout(r, 50));
  const again = await send(pool, target(up.port, { tls: true }));
  t.same([again.status, again.body], [200, 'secure']);
  t.ok(((await accepted(up.conns, 1)).socket as tls.TLSSocket).isSessionReused(), 'the second connection resumed the session');
  const wrongName = await send(pool, target(up.port, { tls: true, host: 'other.test' }));
  t.equal(wrongName.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  t.equal(upstreamFailure(wrongName.error!, undefined).code, 'upstream-tls');
  const untrusted = await send(newPool(), target(up.port, { tls: true }));
  t.match(untrusted.error?.code, /UNABLE_TO|SELF_SIGNED|CERT/);
  t.equal(up.conns.filter((c) => c.received().length > 0).length, 2, 'only the verified connections received a request');
});

t.test('an invalid header is refused before a byte is sent, and the pool stays usable', async (t) => {
  const up = await rawUpstream(async (c) => {
    await c.until('\r\n\r\n');
    c.socket.write(ok('fine'));
  });
  const pool = newPool();
  t.teardown(() => (pool.close(), up.close()));
  const bad = await send(pool, target(up.port), { headers: ['Host', 'api.test', 'X-A', 'v\r\nX-Smuggled: 1'] });
  t.equal(bad.error?.code, 'ERR_UPSTREAM_REQUEST_INVALID');
  const good = await send(pool, target(up.port));
  t.equal(good.body, 'fine');
  t.notMatch(up.conns.map((c) => c.received()).join(''), /Smuggled/);
});

t.test('a closed pool answers at once, and queued requests fail', async (t) => {
  const up = await rawUpstream(() => {});
  const pool = newPool({ maxSocketsPerAgent: 1 });
  t.teardown(() => up.close());
  const busy = send(pool, target(up.port));
  const queued = send(pool, target(up.port));
  await new Promise((r) => setTimeout(r, 50));
  pool.close();
  t.equal((await queued).error?.code, 'ERR_UPSTREAM_CLOSED');
  t.ok((await busy).error, 'the exchange in flight failed too');
});

t.test('an IP-literal destination: no server name is sent, and the certificate must carry the address; IPv6 is dialled as given', async (t) => {
  const ca = await createTestCa();
  const leaf = await ca.issue(['127.0.0.1']);
  let servername: string | false | null | undefined;
  const up = await rawUpstream(async (c) => {
    servername = (c.socket as tls.TLSSocket).servername;
    await c.until('\r\n\r\n');
    c.socket.write(ok('by address'));
  }, leaf);
  const pool = newPool({ extraCa: [ca.cert] });
  t.teardown(() => (pool.close(), up.close()));
  const r = await send(pool, target(up.port, { tls: true, host: '127.0.0.1' }), { headers: ['Host', '127.0.0.1'] });
  t.same([r.status, r.body], [200, 'by address']);
  t.notOk(servername, 'no SNI for an address (RFC 6066)');
  const named = await send(pool, target(up.port, { tls: true, host: 'api.test' }));
  t.equal(named.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID', 'a name the certificate does not carry is refused');

  const v6 = net.createServer((s) => s.once('data', () => s.write(ok('six'))));
  const listening = await new Promise<boolean>((resolve) => {
    v6.once('error', () => resolve(false));
    v6.listen(0, '::1', () => resolve(true));
  });
  if (!listening) {
    t.comment('no IPv6 loopback on this machine');
    return;
  }
  t.teardown(() => v6.close());
  const six = await send(pool, target((v6.address() as net.AddressInfo).port, { host: 'api6.test', address: '::1' }));
  t.same([six.status, six.body], [200, 'six']);
});
