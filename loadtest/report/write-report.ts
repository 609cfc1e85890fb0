/** Writes a load report's directory: report.json, report.md and charts/ (SVG, and PNG when possible). */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderCharts, RsvgConvertError, RsvgMissingError, svgToPng, type ChartOptions } from "./charts.js";
import { parseLoadReport, type LoadReport } from "./load-report.js";
import { renderMarkdown, type ChartLink } from "./markdown.js";

/** What became of the PNG copies of the charts. */
export type PngOutcome =
  | { readonly type: "written" }
  /** `rsvg-convert` is not installed: SVGs only. */
  | { readonly type: "unavailable"; readonly reason: string }
  /** `rsvg-convert` failed on a chart: SVGs only. */
  | { readonly type: "failed"; readonly reason: string };

export interface LoadReportFiles {
  readonly dir: string;
  readonly json: string;
  readonly markdown: string;
  /** Every chart file written: the SVGs, then the PNGs when there are any. */
  readonly charts: readonly string[];
  readonly svgs: readonly string[];
  readonly pngs: readonly string[];
  readonly png: PngOutcome;
}

export interface WriteLoadReportOptions extends ChartOptions {
  /** Whether to write PNGs (true, when rsvg-convert is there). */
  readonly png?: boolean;
  /** The converter, `rsvg-convert` on PATH by default. */
  readonly rsvgCommand?: string;
}

/**
 * Writes `report` into `dir` (created): `report.json` first, since the figures are what a run
 * costs, then `charts/*.svg`, `charts/*.png` and `report.md`. Each file is written beside its
 * place and renamed over it, so a reader never sees half a file. A report that does not match the
 * schema is a bug in the runner: LoadReportError, before anything is written.
 */
export async function writeLoadReport(
  report: LoadReport,
  dir: string,
  options: WriteLoadReportOptions = {},
): Promise<LoadReportFiles> {
  const json = join(dir, "report.json");
  // Throws LoadReportError naming the field.
  parseLoadReport(report, `${json} (not written)`);
  const chartsDir = join(dir, "charts");
  await mkdir(chartsDir, { recursive: true });

  await writeAtomic(json, JSON.stringify(report, null, 2) + "\n");

  const charts = await renderCharts(report, options);
  const svgs: string[] = [];
  for (const c of charts) {
    const path = join(chartsDir, c.file);
    await writeAtomic(path, c.svg);
    svgs.push(path);
  }

  const pngs: string[] = [];
  let png: PngOutcome = { type: "written" };
  if (options.png === false) png = { type: "unavailable", reason: "PNGs not asked for" };
  else
    try {
      const converted = await Promise.all(
        charts.map(async (c) => ({
          path: join(chartsDir, c.file.replace(/\.svg$/, ".png")),
          data: await svgToPng(c.svg, options.rsvgCommand ? { command: options.rsvgCommand } : {}),
        })),
      );
      for (const { path, data } of converted) {
        await writeAtomic(path, data);
        pngs.push(path);
      }
    } catch (err) {
      if (err instanceof RsvgMissingError) png = { type: "unavailable", reason: err.message };
      else if (err instanceof RsvgConvertError) png = { type: "failed", reason: err.message };
      else throw err;
    }

  const links: ChartLink[] = charts.map((c) => {
    const pngFile = c.file.replace(/\.svg$/, ".png");
    return {
      title: c.title,
      file: `charts/${c.file}`,
      png: pngs.some((p) => p.endsWith(pngFile)) ? `charts/${pngFile}` : undefined,
    };
  });
  const markdown = join(dir, "report.md");
  await writeAtomic(markdown, renderMarkdown(report, links));

  return { dir, json, markdown, charts: [...svgs, ...pngs], svgs, pngs, png };
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
