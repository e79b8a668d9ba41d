import t from 'tap';
import { canonicalHost, parseAuthority } from '../../src/http/authority.ts';
import { checkStrictPath, splitTarget, parseAbsoluteTarget } from '../../src/http/path.ts';
import { checkFraming } from '../../src/http/framing.ts';

t.test('authorities are canonicalised', async (t) => {
  const ok = (s: string) => {
    const r = parseAuthority(s);
    return r.ok ? r.authority : null;
  };
  t.same(ok('API.Example.COM.'), { host: 'api.example.com', port: null, ip: 0 });
  t.same(ok('api.example.com:8443'), { host: 'api.example.com', port: 8443, ip: 0 });
  t.same(ok('[::1]:443'), { host: '::1', port: 443, ip: 6 });
  t.same(ok('169.254.169.254'), { host: '169.254.169.254', port: null, ip: 4 });
});

t.test('ambiguous authorities are refused', async (t) => {
  for (const bad of ['user@api.example.com', 'api.example.com:0443', 'api.example.com:+443', 'api.example.com:99999', 'api..example.com', '.api.example.com', 'api.example.com..', 'api%2eexample.com', 'ápi.example.com', '0xa9fea9fe', '2852039166', '169.254.43518', '0251.0376.0251.0376', 'api.example.com:', '[::1', '[fe80::1%eth0]', 'a b.com']) {
    t.notOk(parseAuthority(bad).ok, bad);
  }
  t.notOk(canonicalHost('').ok);
});

t.test('paths: only unambiguous ones pass the strict check', async (t) => {
  t.ok(checkStrictPath('/v1/charges/ch_123').ok);
  t.ok(checkStrictPath('/v1/charges/').ok, 'a trailing slash is fine');
  t.ok(checkStrictPath('/v1/a%20b').ok, 'an encoded space is unambiguous');
  for (const bad of ['/v1/../admin', '/v1/./charges', '/v1//charges', '/v1/%2e%2e/admin', '/v1/%2E./admin', '/v1%2fcharges', '/v1%5ccharges', '/v1\\charges', '/v1/charges;jsessionid=1', '/v1/%zz', '/v1/%252e%252e/', '/v1/%00', '/v1/..']) {
    t.notOk(checkStrictPath(bad).ok, bad);
  }
  t.notOk(splitTarget('/v1/charges#frag').ok);
  t.notOk(splitTarget('*').ok);
  t.same(splitTarget('/a?b=1'), { ok: true, target: { path: '/a', query: 'b=1' } });
  t.same(parseAbsoluteTarget('http://Api.Example.com:80'), { ok: true, scheme: 'http', authority: 'Api.Example.com:80', rest: '/' });
});

t.test('framing: what Node accepts but a proxy must not', async (t) => {
  const h = (...kv: string[]) => checkFraming(kv, '1.1');
  t.same(h('Host', 'a.com'), { ok: true, host: 'a.com', body: { kind: 'none' } });
  t.same(h('Host', 'a.com', 'Content-Length', '12'), { ok: true, host: 'a.com', body: { kind: 'length', length: 12 } });
  t.same(h('Host', 'a.com', 'Transfer-Encoding', 'chunked'), { ok: true, host: 'a.com', body: { kind: 'chunked' } });
  t.notOk(h('Host', 'a.com', 'Host', 'b.com').ok, 'two Hosts');
  t.notOk(h('Host', 'a.com', 'host', 'a.com').ok, 'two identical Hosts');
  t.notOk(h('Host', 'a.com', 'Content-Length', '5', 'Transfer-Encoding', 'chunked').ok, 'CL + TE');
  t.notOk(h('Host', 'a.com', 'Content-Length', '5', 'Content-Length', '5').ok, 'two CL');
  t.notOk(h('Host', 'a.com', 'Content-Length', '5, 5').ok, 'list CL');
  t.notOk(h('Host', 'a.com', 'Content-Length', '-1').ok);
  t.notOk(h('Host', 'a.com', 'Transfer-Encoding', 'chunked, identity').ok, 'obfuscated TE');
  t.notOk(h('Host', 'a.com', 'Transfer-Encoding', 'xchunked').ok);
  t.ok(h('Host', 'a.com', 'Transfer-Encoding', 'Chunked').ok, 'case-insensitive chunked');
  t.notOk(h('Host', 'a.com', 'X-A', 'a\r\nInjected: 1').ok);
  t.notOk(h('X-A', 'a').ok, 'no Host');
  t.notOk(checkFraming(['Host', 'a.com', 'Transfer-Encoding', 'chunked'], '1.0').ok, 'TE on HTTP/1.0');
});
