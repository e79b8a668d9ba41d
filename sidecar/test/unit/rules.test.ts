import t from 'tap';
import { buildRules, checkCaptureSpec, listenerPorts, type CaptureSpec } from '../../src/capture/rules.ts';

const spec: CaptureSpec = { ports: [443, 80], outboundPort: 15001, sidecarUid: 1337, excludeCidrs: ['10.96.0.1', 'fd00::/8'], excludePorts: [22], dropQuic: true };

t.test('each captured port has its own listener, lowest port first', async (t) => {
  t.same([...listenerPorts(15001, [443, 80, 443])], [[80, 15001], [443, 15002]]);
});

t.test('IPv4 rules exclude the sidecar uid, loopback and v4 CIDRs, then redirect', async (t) => {
  const plan = buildRules(spec, 4);
  const lines = plan.restore.split('\n');
  const uid = lines.indexOf('-A MAYFLY_OUTPUT -m owner --uid-owner 1337 -j RETURN');
  const redirect = lines.indexOf('-A MAYFLY_OUTPUT -p tcp --dport 443 -j REDIRECT --to-ports 15002');
  t.ok(uid > 0 && redirect > uid, 'the uid exclusion comes before the redirect');
  t.ok(lines.includes('-A MAYFLY_OUTPUT -d 10.96.0.1 -j RETURN'));
  t.ok(lines.includes('-A MAYFLY_OUTPUT -p tcp --dport 22 -j RETURN'));
  t.notOk(plan.restore.includes('fd00::/8'), 'no IPv6 CIDR in the IPv4 rules');
  t.ok(lines.includes('-A MAYFLY_QUIC -p udp --dport 443 -j DROP'));
  t.same(plan.jumps.map((j) => j.rule.join(' ')), ['-p tcp -j MAYFLY_OUTPUT', '-p udp -j MAYFLY_QUIC']);
});

t.test('IPv6 rules get the same redirects with v6 exclusions', async (t) => {
  const plan = buildRules(spec, 6);
  t.match(plan.restore, /-d ::1\/128 -j RETURN/);
  t.match(plan.restore, /-d fd00::\/8 -j RETURN/);
  t.notMatch(plan.restore, /10\.96\.0\.1/);
  t.match(plan.restore, /--dport 80 -j REDIRECT --to-ports 15001/);
});

t.test('QUIC is left alone when asked', async (t) => {
  t.notMatch(buildRules({ ...spec, dropQuic: false }, 4).restore, /DROP/);
});

t.test('bad specs are refused with every problem listed', async (t) => {
  const errors = checkCaptureSpec({ ...spec, ports: [443, 15002], sidecarUid: 0, excludeCidrs: ['nonsense', '10.0.0.0/33'], excludePorts: [443] });
  t.ok(errors.some((e) => e.includes('uid')));
  t.ok(errors.some((e) => e.includes('"nonsense"')));
  t.ok(errors.some((e) => e.includes('10.0.0.0/33')));
  t.ok(errors.some((e) => e.includes('both captured and excluded')));
  t.ok(errors.some((e) => e.includes('collides')));
  t.throws(() => buildRules({ ...spec, ports: [] }, 4), { code: 'ERR_CAPTURE_SPEC' });
});
