// Number and time formatting shared by the views and the exports.

/** "12.3%" from a fraction; "–" when missing. */
export function percent(fraction, digits = 1) {
  return fraction == null || !Number.isFinite(fraction) ? "–" : `${(100 * fraction).toFixed(digits)}%`;
}

/** "1 min 05 s", "42 s", "1.3 s". */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** A number with `digits` significant figures, "–" when missing. */
export function number(value, digits = 3) {
  return value == null || !Number.isFinite(value) ? "–" : Number(value.toPrecision(digits)).toString();
}

/** "1.5 MiB". */
export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${units[i]}`;
}

/** The message of anything thrown (a JsError from the module, an Error, a string). */
export function message(error) {
  return error?.message ?? String(error);
}
