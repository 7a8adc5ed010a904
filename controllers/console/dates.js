// Dates between the officer's time zone (the browser's) and the API's ISO 8601 with offsets.
const pad = (number, width = 2) => String(number).padStart(width, "0");

// 2026-12-01T00:00:00.000-05:00: the local wall time with the offset in force at that moment.
export function isoWithOffset(moment) {
  const offset = -moment.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const minutes = Math.abs(offset);
  return (
    `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}` +
    `T${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}` +
    `.${pad(moment.getMilliseconds(), 3)}${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`
  );
}

function localDay(value, hours, minutes, seconds, milliseconds) {
  const [year, month, day] = value.split("-").map(Number);
  return new Date(year, month - 1, day, hours, minutes, seconds, milliseconds);
}

// From/To date inputs as the API's since/until; To takes in its whole local day.
export function range(from, to) {
  return {
    since: from ? isoWithOffset(localDay(from, 0, 0, 0, 0)) : undefined,
    until: to ? isoWithOffset(localDay(to, 23, 59, 59, 999)) : undefined,
  };
}

const momentFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});

export function localMoment(iso) {
  return momentFormat.format(new Date(iso));
}

const dayFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  timeZone: "UTC",
});

// A "YYYY-MM-DD" day of the API (a UTC day) as "Mar 1".
export function utcDay(day) {
  return dayFormat.format(new Date(`${day}T00:00:00Z`));
}
