// A small load generator: keep-alive connections issuing GETs, either at a
// fixed rate (latency measured from the intended send time, so a stall is not
// hidden: no coordinated omission) or as fast as they can (saturation), or one
// new TLS connection per request (handshakes/s). Prints one JSON line.
// At a fixed rate, `warmup` seconds at the same rate on the same connections
// come first and are not counted; the line `measuring` on stdout marks where
// the counted seconds begin, so a caller can sample CPU from there.
// usage: node sidecar-loadgen.ts JSON({ mode, port, tls, servername, host, ca, seconds, rate, connections, warmup? })
import net from 'node:net';
import tls from 'node:tls';

interface Opts { mode: 'fixed' | 'saturate' | 'handshake'; port: number; tls: boolean; servername: string; host: string; ca: string; seconds: number; rate: number; connections: number; warmup?: number; samples?: boolean }
const o = JSON.parse(process.argv[2] as string) as Opts;
const request = Buffer.from(`GET /v1/charges HTTP/1.1\r\nHost: ${o.host}\r\nAccept: application/json\r\n\r\n`);
const latencies: number[] = [];
let errors = 0;
let done = 0;

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = o.tls ? tls.connect({ host: '127.0.0.1', port: o.port, servername: o.servername, ca: o.ca, ALPNProtocols: ['http/1.1'] }) : net.connect({ host: '127.0.0.1', port: o.port });
    s.setNoDelay(true);
    s.once(o.tls ? 'secureConnect' : 'connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** One connection that sends a request when told and resolves when a full response arrived. */
class Conn {
  socket: net.Socket;
  buf = '';
  waiting: ((ok: boolean) => void) | null = null;
  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(this.buf.slice(0, end))?.[1] ?? 0);
      if (this.buf.length < end + 4 + len) return;
      const ok = this.buf.startsWith('HTTP/1.1 200');
      this.buf = this.buf.slice(end + 4 + len);
      const w = this.waiting;
      this.waiting = null;
      w?.(ok);
    });
    socket.on('error', () => this.waiting?.(false));
    socket.on('close', () => {
      this.dead = true;
      const w = this.waiting;
      this.waiting = null;
      w?.(false);
    });
  }
  dead = false;
  /** A replacement when the server closed this connection. */
  async revive(): Promise<Conn> {
    return this.dead ? new Conn(await connect()) : this;
  }
  send(): Promise<boolean> {
    return new Promise((r) => {
      this.waiting = r;
      this.socket.write(request);
    });
  }
}

let deadline = performance.now() + o.seconds * 1000;
if (o.mode === 'handshake') {
  const workers = Array.from({ length: o.connections }, async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const c = new Conn(await connect());
        const ok = await c.send();
        if (!ok) errors++;
        c.socket.destroy();
        latencies.push(performance.now() - t0);
        done++;
      } catch {
        errors++;
      }
    }
  });
  await Promise.all(workers);
} else {
  const conns = await Promise.all(Array.from({ length: o.connections }, async () => new Conn(await connect())));
  // warm up each connection once
  await Promise.all(conns.map((c) => c.send()));
  const start = performance.now();
  if (o.mode === 'saturate') {
    await Promise.all(
      conns.map(async (c) => {
        while (performance.now() < deadline) {
          c = await c.revive();
          const t0 = performance.now();
          if (!(await c.send())) errors++;
          latencies.push(performance.now() - t0);
          done++;
        }
      }),
    );
  } else {
    const interval = 1000 / o.rate;
    const idle = [...conns];
    const queue: number[] = [];
    let next = start;
    // requests meant to be sent before this are the warm-up: sent, not counted
    const measureFrom = start + (o.warmup ?? 0) * 1000;
    deadline = measureFrom + o.seconds * 1000;
    let measuring = o.warmup === undefined;
    const pump = (): void => {
      while (idle.length > 0 && queue.length > 0) {
        const c0 = idle.pop() as Conn;
        const intended = queue.shift() as number;
        void c0.revive().then(async (c) => {
          const ok = await c.send();
          if (!ok) errors++;
          if (intended >= measureFrom) {
            latencies.push(performance.now() - intended);
            done++;
          }
          idle.push(c);
          pump();
        });
      }
    };
    while (performance.now() < deadline) {
      const now = performance.now();
      if (!measuring && now >= measureFrom) {
        measuring = true;
        process.stdout.write('measuring\n');
      }
      while (next <= now) {
        queue.push(next);
        next += interval;
      }
      pump();
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    while (idle.length < conns.length) await new Promise((r) => setTimeout(r, 5));
  }
  for (const c of conns) c.socket.destroy();
}
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? NaN;
// with `samples`, every counted latency too (in ms, to the microsecond), so a caller can pool runs
const samples = o.samples ? latencies.map((l) => Math.round(l * 1000) / 1000) : undefined;
process.stdout.write(`${JSON.stringify({ rps: done / o.seconds, p50: pct(50), p99: pct(99), errors, n: done, ...(samples ? { samples } : {}) })}\n`);
