const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses a Go-style duration of whole units ("90s", "15m", "24h", "7d", "1h30m") into seconds. */
export function parseDurationSeconds(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+[smhd])+$/.test(trimmed)) {
    throw new Error(`duration ${JSON.stringify(text)} is not of the form 90s, 15m, 24h, 7d or 1h30m`);
  }
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([smhd])/g))
    total += Number(amount) * (UNIT_SECONDS[unit ?? "s"] ?? 1);
  if (!Number.isSafeInteger(total) || total <= 0)
    throw new Error(`duration ${JSON.stringify(text)} must be positive`);
  return total;
}
