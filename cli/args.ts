/** Argument parsers shared by the `grip` commands. */
import { InvalidArgumentError } from 'commander';

/** A commander parser for a non-negative integer option, naming the option when the value is not one. */
export const integer = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got "${value}"`);
  return n;
};
