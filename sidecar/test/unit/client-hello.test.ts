import t from 'tap';
import tls from 'node:tls';
import net from 'node:net';
import { parseClientHello } from '../../src/tls/client-hello.ts';

/** Captures the ClientHello a real Node TLS client sends. */
function captureHello(servername: string | undefined, alpn: string[] = ['http/1.1']): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ALPNProtocols: alpn, ...(servername ? { servername } : {}) });
      c.on('error', () => {});
    });
  });
}

t.test('reads SNI and ALPN from a real ClientHello', async (t) => {
  const hello = await captureHello('api.example.com', ['h2', 'http/1.1']);
  t.same(parseClientHello(hello), { kind: 'hello', serverName: 'api.example.com', alpn: ['h2', 'http/1.1'] });
});

t.test('a ClientHello without SNI has a null server name', async (t) => {
  const hello = await captureHello(undefined);
  const r = parseClientHello(hello);
  t.equal(r.kind, 'hello');
  t.equal(r.kind === 'hello' && r.serverName, null);
});

t.test('needs more until the whole hello is there, at every split', async (t) => {
  const hello = await captureHello('api.example.com');
  for (let n = 1; n < hello.length; n += 7) t.equal(parseClientHello(hello.subarray(0, n)).kind, 'need-more', `prefix of ${n} bytes`);
});

t.test('plain HTTP is not TLS; garbage and oversize are invalid', async (t) => {
  t.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'not-tls');
  t.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0])).kind, 'invalid', 'not a ClientHello');
  t.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01])).kind, 'invalid', 'record longer than 16 KiB');
  const huge = Buffer.alloc(20000, 0);
  huge.set([0x16, 0x03, 0x01, 0x3f, 0xff, 0x01, 0x00, 0xff, 0xff]);
  t.equal(parseClientHello(huge).kind, 'invalid', 'a ClientHello claiming 64 KiB is refused');
});

t.test('a truncated extension block is invalid, never a crash', async (t) => {
  const hello = await captureHello('api.example.com');
  const broken = Buffer.from(hello);
  // shrink the handshake length so that the extension list overruns it
  const hsLen = broken.readUIntBE(6, 3);
  broken.writeUIntBE(hsLen - 40, 6, 3);
  broken.writeUInt16BE(broken.readUInt16BE(3) - 40, 3);
  const r = parseClientHello(broken.subarray(0, broken.length - 40));
  t.equal(r.kind, 'invalid');
});
