import t from 'tap';
import { inTimeWindow, inTimeWindows, localTime } from '../src/conditions.ts';

const at = (iso: string) => Date.parse(iso);
const weekdays = { days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'] as ('Mon' | 'Tue' | 'Wed' | 'Thu' | 'Fri')[], start: '06:00', end: '22:00', timeZone: 'Europe/Berlin' };

t.test('a weekday window in Berlin, across both DST offsets', async (t) => {
  // 2026-01-14 is a Wednesday; Berlin is UTC+1 in winter and UTC+2 in summer.
  t.ok(inTimeWindow(weekdays, at('2026-01-14T05:00:00Z')), '06:00 Berlin winter: start is inclusive');
  t.notOk(inTimeWindow(weekdays, at('2026-01-14T04:59:00Z')), '05:59 Berlin');
  t.notOk(inTimeWindow(weekdays, at('2026-01-14T21:00:00Z')), '22:00 Berlin: end is exclusive');
  t.ok(inTimeWindow(weekdays, at('2026-07-15T04:00:00Z')), '06:00 Berlin summer is 04:00 UTC');
  t.notOk(inTimeWindow(weekdays, at('2026-07-15T03:30:00Z')));
  t.notOk(inTimeWindow(weekdays, at('2026-01-17T12:00:00Z')), 'Saturday');
  t.same(localTime(at('2026-01-14T23:30:00Z'), 'Europe/Berlin'), { day: 'Thu', minute: 30 });
});

t.test('a window past midnight belongs to the day it starts', async (t) => {
  const night = { days: ['Fri'] as 'Fri'[], start: '22:00', end: '02:00', timeZone: 'UTC' };
  t.ok(inTimeWindow(night, at('2026-01-16T23:00:00Z')), 'Friday 23:00');
  t.ok(inTimeWindow(night, at('2026-01-17T01:59:00Z')), 'Saturday 01:59 is still Friday night');
  t.notOk(inTimeWindow(night, at('2026-01-17T02:00:00Z')), 'Saturday 02:00');
  t.notOk(inTimeWindow(night, at('2026-01-16T01:00:00Z')), 'Friday 01:00 belongs to Thursday night');
  t.ok(inTimeWindow({ days: ['Mon'], start: '00:00', end: '24:00', timeZone: 'UTC' }, at('2026-01-12T23:59:00Z')), '24:00 is the end of the day');
});

t.test('no windows means always; an unknown zone never matches', async (t) => {
  t.ok(inTimeWindows([], 0));
  t.notOk(inTimeWindows([{ ...weekdays, timeZone: 'Mars/Olympus_Mons' }], at('2026-01-14T12:00:00Z')));
  t.ok(inTimeWindows([{ ...weekdays, days: ['Sat'] }, weekdays], at('2026-01-14T12:00:00Z')), 'any window suffices');
});
