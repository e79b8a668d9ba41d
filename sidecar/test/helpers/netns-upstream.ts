// An upstream for network-namespace tests, run inside the upstream namespace:
// HTTPS on 443 and HTTP on 80 (IPv4 and IPv6), a UDP listener on 443 and 8443
// (to see QUIC packets), recording what arrives. The test reads the record over
// a Unix socket (GET /received), which crosses network namespaces.
// usage: node netns-upstream.ts KEY CERT CONTROL_SOCKET
import http from 'node:http';
import https from 'node:https';
import dgram from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';

const [key, cert, control] = process.argv.slice(2) as [string, string, string];
const received: Array<{ scheme: string; method: string; url: string; headers: http.IncomingHttpHeaders; family: string }> = [];
const udp: Array<{ port: number; bytes: number }> = [];

const onRequest = (scheme: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
  req.resume();
  req.on('end', () => {
    received.push({ scheme, method: req.method ?? '', url: req.url ?? '', headers: req.headers, family: req.socket.remoteFamily ?? '' });
    if (req.url?.startsWith('/redirect')) res.writeHead(302, { location: 'https://other.test/elsewhere' }).end();
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream ${scheme} ${req.headers.host}\n`);
  });
};
const tls = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, onRequest('https'));
const plain = http.createServer(onRequest('http'));
tls.listen({ port: 443, host: '::', ipv6Only: false });
plain.listen({ port: 80, host: '::', ipv6Only: false });
for (const port of [443, 8443]) {
  const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  s.on('message', (m) => udp.push({ port, bytes: m.length }));
  s.bind(port, '::');
}
rmSync(control, { force: true });
http
  .createServer((req, res) => {
    if (req.url === '/reset') {
      received.length = 0;
      udp.length = 0;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received, udp }));
  })
  .listen(control, () => process.stdout.write('ready\n'));
