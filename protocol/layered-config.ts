import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";

/**
 * Settings from a YAML file (if any) with command-line flags laid over it (flags win, undefined
 * flags are ignored), validated as a whole by `schema`. Anything wrong is reported through
 * `error(message)` naming the file and the field (`field podQps: ...`); nothing is half-applied.
 * Shared by `cloudcore run --config` and `edgefleet-sim run --scenario`.
 */
export function loadLayeredConfig<S extends z.ZodTypeAny>(
  schema: S,
  file: string | undefined,
  flags: Record<string, unknown>,
  options: { readonly kind: string; readonly error: (message: string) => Error },
): z.output<S> {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, "utf8"));
    } catch (err) {
      throw options.error(`${options.kind} ${file}: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== "object" || Array.isArray(parsed)))
      throw options.error(`${options.kind} ${file}: expected a mapping at the top level`);
    fromFile = (parsed ?? {}) as Record<string, unknown>;
  }
  const merged = {
    ...fromFile,
    ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
  };
  const result = schema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.join(".") || "(config)";
    throw options.error(
      `${file ? `${options.kind} ${file}: ` : ""}field ${field}: ${issue?.message ?? "invalid"}`,
    );
  }
  return result.data as z.output<S>;
}
