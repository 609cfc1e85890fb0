import { InvalidArgumentError } from "commander";

/** A commander parser for a whole-number flag of at least `min`, naming the flag in its error. */
export function intFlag(name: string, min = 1): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}, got "${value}"`);
    return n;
  };
}
