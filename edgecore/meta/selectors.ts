/**
 * Kubernetes label and field selectors, as the MetaServer's list and watch accept them
 * (`labelSelector=app=web,tier!=db,env in (a,b),!legacy`, `fieldSelector=spec.nodeName=n1`).
 */

/** A selector string that does not parse; `parameter` names the query parameter. */
export class SelectorError extends Error {
  override readonly name = "SelectorError";
  constructor(
    readonly parameter: "labelSelector" | "fieldSelector",
    message: string,
  ) {
    super(`${parameter}: ${message}`);
  }
}

type LabelRequirement =
  | { readonly op: "=" | "!="; readonly key: string; readonly value: string }
  | { readonly op: "in" | "notin"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: "exists" | "!exists"; readonly key: string };

export type Matcher = (object: unknown) => boolean;

const KEY = /^([a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?)?$/;

/** Splits on commas outside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== "");
}

function checkKey(key: string): string {
  if (!KEY.test(key)) throw new SelectorError("labelSelector", `invalid label key "${key}"`);
  return key;
}

function checkValue(value: string): string {
  if (value.length > 63 || !VALUE.test(value))
    throw new SelectorError("labelSelector", `invalid label value "${value}"`);
  return value;
}

function parseLabelTerm(term: string): LabelRequirement {
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (set) {
    const values = (set[3] ?? "")
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "")
      .map(checkValue);
    return { op: set[2] as "in" | "notin", key: checkKey(set[1] ?? ""), values };
  }
  const cmp = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (cmp) {
    const op = cmp[2] === "!=" ? "!=" : "=";
    return { op, key: checkKey(cmp[1] ?? ""), value: checkValue(cmp[3] ?? "") };
  }
  if (term.startsWith("!")) return { op: "!exists", key: checkKey(term.slice(1).trim()) };
  return { op: "exists", key: checkKey(term) };
}

/** Compiles a label selector; an empty or absent selector matches everything. */
export function labelMatcher(selector: string | undefined): Matcher {
  if (!selector) return () => true;
  const requirements = splitTerms(selector).map(parseLabelTerm);
  return (object) => {
    const labels = ((object as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ??
      {}) as Record<string, string>;
    return requirements.every((r) => {
      const value = labels[r.key];
      switch (r.op) {
        case "=":
          return value === r.value;
        case "!=":
          return value !== r.value;
        case "in":
          return value !== undefined && r.values.includes(value);
        case "notin":
          return value === undefined || !r.values.includes(value);
        case "exists":
          return value !== undefined;
        case "!exists":
          return value === undefined;
      }
    });
  };
}

/** Reads a dotted field path (`spec.nodeName`) of a JSON object as a string ("" when absent). */
function fieldValue(object: unknown, path: string): string {
  let at: unknown = object;
  for (const part of path.split(".")) {
    if (at === null || typeof at !== "object") return "";
    at = (at as Record<string, unknown>)[part];
  }
  return at === undefined || at === null ? "" : String(at);
}

/**
 * Compiles a field selector (`=`, `==`, `!=` on dotted paths). As in the apiserver, only the
 * fields a resource supports are accepted: `supported` lists them (metadata.name and
 * metadata.namespace always).
 */
export function fieldMatcher(selector: string | undefined, supported: readonly string[] = []): Matcher {
  if (!selector) return () => true;
  const allowed = new Set(["metadata.name", "metadata.namespace", ...supported]);
  const requirements = splitTerms(selector).map((term) => {
    const m = /^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new SelectorError("fieldSelector", `"${term}" is not <field>=<value> or <field>!=<value>`);
    const field = m[1] ?? "";
    if (!allowed.has(field))
      throw new SelectorError(
        "fieldSelector",
        `field "${field}" is not supported (${[...allowed].join(", ")})`,
      );
    return { field, negate: m[2] === "!=", value: (m[3] ?? "").trim() };
  });
  return (object) => requirements.every((r) => (fieldValue(object, r.field) === r.value) !== r.negate);
}
