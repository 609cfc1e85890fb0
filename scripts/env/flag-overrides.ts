/**
 * A component's default flags with a caller's extra flags on top: a flag the caller names replaces
 * the default of the same name. Appending alone is not enough: list flags (kube-apiserver's
 * --authorization-mode, kube-controller-manager's --controllers) add up instead of replacing.
 * Every flag is written `--name=value`.
 */
export function withOverrides(defaults: readonly string[], overrides: readonly string[]): string[] {
  const flagName = (arg: string): string => arg.split("=", 1)[0] ?? arg;
  const named = new Set(overrides.map(flagName));
  return [...defaults.filter((arg) => !named.has(flagName(arg))), ...overrides];
}
