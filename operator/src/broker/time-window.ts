// Weekly time windows in IANA time zones (WorkloadPolicy spec.conditions.timeWindows).
// A window starts on one of its days at `start` and ends at `end` the same day,
// or the next day when `end` is before `start`. Pure: the instant is an argument.
import type { TimeWindow } from '@mayfly/crds';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
type Day = (typeof DAYS)[number];

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Weekday and minute of the day of `at` in `timeZone`; throws RangeError for an unknown zone. */
export function localTime(at: number, timeZone: string): { day: Day; minute: number } {
  const parts = formatter(timeZone).formatToParts(new Date(at));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const day = get('weekday') as Day;
  return { day, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

function previous(day: Day): Day {
  return DAYS[(DAYS.indexOf(day) + 6) % 7] as Day;
}

/** Whether `at` falls in the window. An unknown time zone never matches (fail closed). */
export function inTimeWindow(window: TimeWindow, at: number): boolean {
  let local: { day: Day; minute: number };
  try {
    local = localTime(at, window.timeZone);
  } catch {
    return false;
  }
  const start = minutes(window.start);
  const end = minutes(window.end);
  const days = window.days as readonly string[];
  if (start < end) return days.includes(local.day) && local.minute >= start && local.minute < end;
  // Runs past midnight: the evening part on a listed day, the morning part on the day after one.
  return (days.includes(local.day) && local.minute >= start) || (days.includes(previous(local.day)) && local.minute < end);
}

/** No windows means always; otherwise any window. */
export function inTimeWindows(windows: readonly TimeWindow[], at: number): boolean {
  return windows.length === 0 || windows.some((w) => inTimeWindow(w, at));
}
