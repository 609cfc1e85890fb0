import { readFileSync } from "node:fs";
import { afterEach, inject } from "vitest";

const TAIL_LINES = 25;

// When a test fails, show the end of every component's log next to the failure: the cause of an
// integration failure is usually in a server's log, not in the assertion.
afterEach((context) => {
  if (context.task.result?.state !== "fail") return;
  const logs = inject("env").logs;
  for (const [name, path] of Object.entries(logs)) {
    let tail: string;
    try {
      tail = readFileSync(path, "utf8").split("\n").slice(-TAIL_LINES).join("\n");
    } catch (err) {
      tail = `(cannot read: ${(err as Error).message})`;
    }
    process.stderr.write(`\n----- ${name}: last ${TAIL_LINES} lines of ${path}\n${tail}\n`);
  }
});
