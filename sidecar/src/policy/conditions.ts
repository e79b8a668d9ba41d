// The per-request conditions of a policy besides the destination: posture of
// the pod's images, time windows, expiry. Pure (time comes in as an argument).
import type { CompiledPolicy, TimeWindow } from '@mayfly/crds';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Day of week (0 = Sunday) and minute of day of `now` in a time zone. */
export function localTime(now: number, timeZone: string): { day: number; minute: number } {
  const parts = formatter(timeZone).formatToParts(new Date(now));
  const get = (t: string): string => parts.find((p) => p.type === t)?.value ?? '';
  return { day: DAYS.indexOf(get('weekday') as (typeof DAYS)[number]), minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/** Whether `now` falls in the window; a window whose end is before its start runs into the next day. */
export function inTimeWindow(window: TimeWindow, now: number): boolean {
  let local;
  try {
    local = localTime(now, window.timeZone);
  } catch {
    return false; // an unknown zone grants nothing
  }
  const start = minutes(window.start);
  const end = minutes(window.end);
  const days = window.days as readonly string[];
  const today = DAYS[local.day] as string;
  const yesterday = DAYS[(local.day + 6) % 7] as string;
  if (start < end) return days.includes(today) && local.minute >= start && local.minute < end;
  return (days.includes(today) && local.minute >= start) || (days.includes(yesterday) && local.minute < end);
}

/** "nginx" -> "docker.io/library/nginx"; references with a registry are kept. */
export function normaliseImage(image: string): string {
  const first = image.split('/')[0] as string;
  const hasRegistry = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return image;
  return image.includes('/') ? `docker.io/${image}` : `docker.io/library/${image}`;
}

export type PostureFailure = 'posture-registry' | 'posture-digest' | null;

/** The first posture rule the pod's images break, or null. */
export function checkPosture(policy: CompiledPolicy, images: readonly string[]): PostureFailure {
  const { allowedRegistries, requireDigest } = policy.posture;
  if (allowedRegistries.length > 0) {
    for (const image of images) {
      const full = normaliseImage(image);
      if (!allowedRegistries.some((r) => full.startsWith(r) || image.startsWith(r))) return 'posture-registry';
    }
  }
  if (requireDigest && images.some((i) => !/@sha256:[0-9a-f]{64}$/.test(i))) return 'posture-digest';
  return null;
}

export function isExpired(policy: CompiledPolicy, now: number): boolean {
  if (policy.expiresAt === null) return false;
  const t = Date.parse(policy.expiresAt);
  return Number.isNaN(t) || now >= t;
}
