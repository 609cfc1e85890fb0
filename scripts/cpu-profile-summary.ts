/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time by function and by file, so a
 * benchmark's "where the time went" can be read without a browser.
 *   tsx scripts/cpu-profile-summary.ts <file.cpuprofile> [--top 30]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
const top = Number(args[args.indexOf("--top") + 1]) || 30;
if (!file) {
  process.stderr.write("usage: cpu-profile-summary <file.cpuprofile> [--top N]\n");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = byId.get(id)?.callFrame;
  if (!frame) continue;
  const where = frame.url
    .replace(/^file:\/\//, "")
    .replace(/.*node_modules\//, "nm:")
    .replace(/.*\/work\/main\//, "");
  const fn = `${frame.functionName || "(anonymous)"} ${where}:${frame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  const pkg = where.startsWith("nm:")
    ? where
        .split("/")
        .slice(0, where.startsWith("nm:@") ? 2 : 1)
        .join("/")
    : where || frame.functionName;
  byFile.set(pkg, (byFile.get(pkg) ?? 0) + us);
}
const print = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`\n${title} (of ${(total / 1e6).toFixed(1)} s sampled)\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(
      `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1e6).toFixed(2).padStart(7)} s  ${k}\n`,
    );
};
print("self time by function", byFunction);
print("self time by file or package", byFile);
