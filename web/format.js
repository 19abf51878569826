// Server times are UTC; people read them in their own time zone.

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const weekday = new Intl.DateTimeFormat(undefined, { weekday: "short" });
const dayMonth = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const full = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});
const DAY = 24 * 60 * 60 * 1000;

/** "3:42 PM" today, "Tue" this week, "Mar 4" before. */
export function shortTime(iso, now = new Date()) {
  const at = new Date(iso);
  if (at.toDateString() === now.toDateString()) return timeOnly.format(at);
  if (now - at < 6 * DAY) return weekday.format(at);
  return dayMonth.format(at);
}

export function fullTime(iso) {
  return full.format(new Date(iso));
}

export const CHANNEL_LABELS = { email: "Email", sms: "SMS" };

export const KINDS = { prospect: "Prospect", customer: "Customer", service_customer: "Service customer" };
export const CONSENT = { green: "Can text", red: "Opted out", grey: "Cannot text yet" };

export const FOLLOW_UP = {
  not_contacted: "Not contacted", contacted: "Contacted", appointment_set: "Appointment set",
  closed_won: "Closed, won", closed_lost: "Closed, lost",
};

/** "(212) 728-7053" for North America, else E.164. */
export function formatPhone(e164) {
  const match = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
  return match ? `(${match[1]}) ${match[2]}-${match[3]}` : e164;
}
