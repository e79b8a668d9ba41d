// A policy's conditions besides its destinations, shared by the broker (which
// checks the live pod) and the sidecar (which checks every request): weekly
// time windows in IANA time zones (spec.conditions.timeWindows) and image
// posture (spec.posture.images). Pure: the instant and the images are arguments.
import type { TimeWindow } from './types.ts';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
export type Day = (typeof DAYS)[number];

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
  return { day: get('weekday') as Day, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

function previous(day: Day): Day {
  return DAYS[(DAYS.indexOf(day) + 6) % 7] as Day;
}

/**
 * Whether `at` falls in the window. A window starts on one of its days at
 * `start` and ends at `end` the same day, or the next day when `end` is before
 * `start`. An unknown time zone never matches (fail closed).
 */
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
  if (windows.length === 0) return true;
  for (const w of windows) if (inTimeWindow(w, at)) return true;
  return false;
}

/** The fully qualified form of an image reference, as the container runtime reads it ("nginx" is "docker.io/library/nginx"). */
export function normalizeImage(ref: string): string {
  const slash = ref.indexOf('/');
  const first = slash === -1 ? '' : ref.slice(0, slash);
  const hasRegistry = first.includes('.') || first.includes(':') || first === 'localhost';
  if (hasRegistry) return ref;
  return slash === -1 ? `docker.io/library/${ref}` : `docker.io/${ref}`;
}

export interface Posture {
  allowedRegistries: readonly string[];
  requireDigest: boolean;
}

const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** The first image that breaks the posture, and which rule; null when every image satisfies it. */
export function postureViolation(posture: Posture, images: readonly string[]): { image: string; rule: 'registry' | 'digest' } | null {
  for (const image of images) {
    if (posture.allowedRegistries.length > 0) {
      const full = normalizeImage(image);
      if (!posture.allowedRegistries.some((prefix) => full.startsWith(prefix))) return { image, rule: 'registry' };
    }
    if (posture.requireDigest && !DIGEST.test(image)) return { image, rule: 'digest' };
  }
  return null;
}
