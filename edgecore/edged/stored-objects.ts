import type { MetaStore } from "../meta/meta-store.js";
import type { ObjectSource } from "./object-source.js";

const decodeAll = (data: unknown, encoding: "utf8" | "base64"): Record<string, Buffer> => {
  const out: Record<string, Buffer> = {};
  if (data === null || typeof data !== "object") return out;
  for (const [key, value] of Object.entries(data))
    if (typeof value === "string") out[key] = Buffer.from(value, encoding);
  return out;
};

/** ConfigMaps and Secrets from the node's own store: what pods use works offline too. */
export function storedObjects(store: MetaStore): ObjectSource {
  return {
    configMap(namespace, name) {
      const stored = store.get(`${namespace}/configmap/${name}`);
      if (!stored) return undefined;
      return {
        ...decodeAll(stored.object["binaryData"], "base64"),
        ...decodeAll(stored.object["data"], "utf8"),
      };
    },
    secret(namespace, name) {
      const stored = store.get(`${namespace}/secret/${name}`);
      if (!stored) return undefined;
      // stringData never reaches an edge (the apiserver folds it into data).
      return decodeAll(stored.object["data"], "base64");
    },
  };
}
