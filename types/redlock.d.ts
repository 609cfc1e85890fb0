/**
 * redlock 5's package.json "exports" has no "types" entry, so NodeNext resolution cannot see its
 * declarations. This shorthand declaration lets the import compile; cloudcore/cluster/redlock.ts
 * gives it its real types (from the package's own .d.ts, imported by path, type-only). A tsconfig
 * `paths` mapping was tried first and is wrong: tsx honours `paths` at run time and loaded the
 * .d.ts as the module (a class without methods: `redlock.acquire is not a function`).
 */
declare module "redlock";
