import type { Logger } from "pino";
import type { CertificateAuthority } from "../../protocol/pki.js";
import type { CloudcoreMetrics } from "../metrics.js";
import type { SessionManager } from "./session-manager.js";

/** What every cloudhub front door needs; both feed the same SessionManager. */
export interface ListenerOptions {
  readonly ca: CertificateAuthority;
  /** Serving certificate and key (PEM), issued by the cloud CA at start. */
  readonly serving: { readonly certPem: string; readonly keyPem: string };
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly maxFrameBytes: number;
  readonly sessions: SessionManager;
  readonly metrics: CloudcoreMetrics;
  readonly log: Logger;
}

/** TLS 1.2 suites limited to ECDHE-ECDSA, as KubeEdge's cloudhub offers; TLS 1.3 suites are unaffected. */
export const TLS12_CIPHERS =
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
