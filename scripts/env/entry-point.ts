/**
 * How to run one of the project's programs (cloudcore, edgecore) as a process of its own from
 * where this module is: the compiled `main.js` beside a compiled copy of it (the image, `npm run
 * build`), or the TypeScript source through tsx in a checkout.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function entryPointCommand(program: "cloudcore" | "edgecore"): { command: string; args: string[] } {
  const compiled = join(root, program, "main.js");
  if (existsSync(compiled)) return { command: process.execPath, args: [compiled] };
  return { command: process.execPath, args: ["--import", "tsx", join(root, program, "main.ts")] };
}
