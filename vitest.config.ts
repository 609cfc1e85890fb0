import { defineConfig } from "vitest/config";

// Two projects: unit tests need nothing running; integration tests (*.integration.test.ts) get the
// real servers from test/global-setup.ts, started once per run and stopped at the end.
export default defineConfig({
  test: {
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["**/*.test.ts"],
          exclude: ["**/*.integration.test.ts", "node_modules/**", "dist/**"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["**/*.integration.test.ts"],
          exclude: ["node_modules/**", "dist/**"],
          globalSetup: ["./test/global-setup.ts"],
          setupFiles: ["./test/print-logs-on-failure.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
