import { InvalidArgumentError } from "commander";

/** A commander parser for a positive whole-number flag, naming the flag in its error. */
export function positiveInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive whole number, got "${value}"`);
    return n;
  };
}
