// Pure helpers: colours, times, ids, numbers.

/** A stable hue (0-359) for a name: FNV-1a hash, so "planner" is always the same colour. */
export function hashHue(name) {
  let hash = 0x811c9dc5;
  for (const ch of String(name)) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % 360;
}

/** Random hex id (works on plain http too, unlike crypto.randomUUID). */
export function randomId(bytes = 8) {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** "just now", "5 min ago", "3 h ago", "yesterday", "Mar 4". ts in Unix seconds. */
export function relativeTime(ts, now = Date.now() / 1000) {
  if (!ts) return "";
  const seconds = Math.round(now - ts);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 2 * 86400) return "yesterday";
  if (seconds < 7 * 86400) return `${Math.round(seconds / 86400)} days ago`;
  return new Date(ts * 1000).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

/** "in 5 min", "in 2 h", "overdue": for a time in the future. ts in Unix seconds. */
export function untilTime(ts, now = Date.now() / 1000) {
  const seconds = Math.round(ts - now);
  if (seconds < -30) return "overdue";
  if (seconds < 60) return "in under a minute";
  if (seconds < 3600) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `in ${Math.round(seconds / 3600)} h`;
  return `in ${Math.round(seconds / 86400)} days`;
}

/** Clock time of a Unix-seconds timestamp, e.g. "14:03". */
export function clockTime(ts) {
  if (!ts) return "";
  return new Date(ts * 1000).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** A short local date-time for an ISO string ("Fri 10:30"), or the text itself when not a date. */
export function shortDateTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  const options = sameDay ? { hour: "2-digit", minute: "2-digit" } : { weekday: "short", hour: "2-digit", minute: "2-digit" };
  return date.toLocaleString(undefined, options);
}

/** 1234 -> "1.2k". */
export function compactNumber(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return n >= 1000 ? `${(n / 1000).toFixed(n >= 10000 ? 0 : 1)}k` : String(n);
}

/** 4.2 -> "4 ms", 1502 -> "1.5 s". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** The IANA zone of this browser (sent with messages so "at 9am" means local 9am). */
export function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}
