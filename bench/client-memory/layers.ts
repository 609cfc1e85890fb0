/** The layers bench:client-memory measures, and what parent and child tell each other. */
export const LAYERS = ["tcp", "tls-own-ctx", "tls-shared-ctx", "ws-tls"] as const;
export type Layer = (typeof LAYERS)[number];

export interface LayerTask {
  readonly layer: Layer;
  readonly port: number;
  readonly connections: number;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface LayerResult {
  readonly layer: Layer;
  readonly connections: number;
  readonly rssKiBPerConnection: number;
  readonly heapKiBPerConnection: number;
}
