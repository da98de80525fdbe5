/** Time formatting in Barman's styles. */

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Python's ctime() of the wall time written in a backup.info timestamp
 * (`2026-11-21 04:49:55.015903+00:00` -> `Sat Nov 21 04:49:55 2026`): the stored offset's
 * wall time, not converted, as Barman prints it.
 */
export function ctimeOfWallTime(epochMs: number, utcOffsetMinutes: number): string {
  const wall = new Date(epochMs + utcOffsetMinutes * 60_000);
  const pad = (value: number) => String(value).padStart(2, '0');
  return (
    `${DAYS[wall.getUTCDay()]} ${MONTHS[wall.getUTCMonth()]} ${String(wall.getUTCDate()).padStart(2, ' ')} ` +
    `${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())} ${wall.getUTCFullYear()}`
  );
}

/** Barman's human_readable_timedelta: `47 seconds`, `1 minute, 3 seconds`, `less than one second`. */
export function humanDuration(seconds: number): string {
  const whole = Math.floor(seconds);
  if (whole < 1) return 'less than one second';
  const parts: string[] = [];
  const units: Array<[string, number]> = [
    ['day', 86_400],
    ['hour', 3600],
    ['minute', 60],
    ['second', 1],
  ];
  let rest = whole;
  for (const [name, size] of units) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0) parts.push(`${count} ${name}${count === 1 ? '' : 's'}`);
  }
  return parts.join(', ');
}
