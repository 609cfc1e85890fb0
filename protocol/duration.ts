import { z } from "zod";

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

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration with milliseconds ("250ms", "1.5s", "2m30s", "0") into milliseconds; zero is
 * allowed (a delay that is not wanted).
 */
export function parseDurationMs(text: string): number {
  const trimmed = text.trim();
  if (trimmed === "0") return 0;
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed))
    throw new Error(`duration ${JSON.stringify(text)} is not of the form 250ms, 1.5s, 10m or 2m30s`);
  let total = 0;
  for (const [, amount, , unit] of trimmed.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d)/g))
    total += Number(amount) * (UNIT_MS[unit ?? "ms"] ?? 1);
  return Math.round(total);
}

/**
 * A config duration in milliseconds: a string parseDurationMs accepts ("10s", "250ms") or a number
 * of seconds.
 */
export const durationMsSchema = z.union([z.string(), z.number().nonnegative()]).transform((value, ctx) => {
  if (typeof value === "number") return Math.round(value * 1000);
  try {
    return parseDurationMs(value);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    return z.NEVER;
  }
});
