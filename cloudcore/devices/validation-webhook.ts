import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "../http/read-body.js";
import type { Logger } from "pino";
import { z } from "zod";
import { issueServingCertificate, type CertificateAuthority } from "../../protocol/pki.js";
import type { KubeRest } from "../kube/kube-rest.js";
import { statusCodeOf } from "../kube/kube-rest.js";
import { DEVICE_GROUP, DEVICE_VERSION } from "./crds.js";
import { deviceProblems, type DeviceJson, type DeviceModelJson } from "./device-validation.js";
import { ServerSockets } from "../http/server-sockets.js";

export const WEBHOOK_CONFIGURATION_NAME = "edgefleet-device-validation";
export const VALIDATE_DEVICES_PATH = "/validate/devices";
const MAX_BODY_BYTES = 3 * 1024 * 1024;

const AdmissionReview = z.object({
  apiVersion: z.literal("admission.k8s.io/v1"),
  kind: z.literal("AdmissionReview"),
  request: z
    .object({
      uid: z.string(),
      operation: z.string(),
      namespace: z.string().optional(),
      object: z.object({}).passthrough().nullable().optional(),
    })
    .passthrough(),
});

export interface ValidationWebhookOptions {
  readonly ca: CertificateAuthority;
  readonly advertise: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
  readonly host: string;
  readonly port: number;
  /** Looks a DeviceModel up (informer cache, then the apiserver). */
  readonly model: (namespace: string, name: string) => Promise<DeviceModelJson | undefined>;
  readonly log: Logger;
}

/**
 * Validating admission webhook for Devices: what CEL in the CRD cannot check because it needs the
 * DeviceModel too (see device-validation.ts). Served over TLS with a certificate from the cloud CA,
 * which is the caBundle the apiserver is given.
 */
export class ValidationWebhook {
  readonly #sockets: ServerSockets;

  private constructor(
    private readonly server: Server,
    private readonly options: ValidationWebhookOptions,
  ) {
    this.#sockets = new ServerSockets(server);
  }

  static async start(options: ValidationWebhookOptions): Promise<ValidationWebhook> {
    const serving = await issueServingCertificate(options.ca, options.advertise);
    const server = createServer({ cert: serving.certPem, key: serving.keyPem, minVersion: "TLSv1.2" });
    const webhook = new ValidationWebhook(server, options);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => void webhook.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => resolve());
    });
    return webhook;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  /** Registers (or refreshes) the ValidatingWebhookConfiguration pointing the apiserver at `url`. */
  async register(rest: KubeRest, url: string): Promise<void> {
    const body = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: {
        name: WEBHOOK_CONFIGURATION_NAME,
        labels: { "app.kubernetes.io/managed-by": "edgefleet-cloudcore" },
      },
      webhooks: [
        {
          name: "devices.validate.edgefleet.io",
          clientConfig: { url, caBundle: Buffer.from(this.options.ca.certPem).toString("base64") },
          rules: [
            {
              apiGroups: [DEVICE_GROUP],
              apiVersions: [DEVICE_VERSION],
              operations: ["CREATE", "UPDATE"],
              resources: ["devices"],
              scope: "Namespaced",
            },
          ],
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          // Refuse rather than admit unchecked devices when no cloudcore answers.
          failurePolicy: "Fail",
          timeoutSeconds: 5,
        },
      ],
    };
    const path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
    try {
      await rest.request("create", path, { body });
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
      const current = await rest.get(`${path}/${WEBHOOK_CONFIGURATION_NAME}`);
      await rest.request("update", `${path}/${WEBHOOK_CONFIGURATION_NAME}`, {
        body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
      });
    }
  }

  async close(): Promise<void> {
    await this.#sockets.close();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST" || new URL(req.url ?? "/", "https://x").pathname !== VALIDATE_DEVICES_PATH) {
      reply(404, { error: "not found" });
      return;
    }
    let text = "";
    try {
      text = (await readBody(req, MAX_BODY_BYTES)).toString("utf8");
    } catch (err) {
      reply(413, { error: (err as Error).message });
      return;
    }
    let parsedJson: unknown;
    try {
      parsedJson = JSON.parse(text);
    } catch {
      reply(400, { error: "body is not JSON" });
      return;
    }
    const parsed = AdmissionReview.safeParse(parsedJson);
    if (!parsed.success) {
      reply(400, {
        error: `not an admission.k8s.io/v1 AdmissionReview: ${parsed.error.issues[0]?.message ?? ""}`,
      });
      return;
    }
    const { request } = parsed.data;
    const device = (request.object ?? {}) as DeviceJson;
    const namespace = request.namespace ?? device.metadata?.namespace ?? "default";
    let problems: string[];
    try {
      const modelName = device.spec?.deviceModelRef?.name ?? "";
      problems = deviceProblems(
        device,
        modelName ? await this.options.model(namespace, modelName) : undefined,
      );
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, "device validation could not read the model");
      problems = [`could not read the device model: ${(err as Error).message}`];
    }
    const allowed = problems.length === 0;
    if (!allowed)
      this.options.log.info(
        { device: `${namespace}/${device.metadata?.name ?? ""}`, problems },
        "device refused",
      );
    reply(200, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: request.uid,
        allowed,
        ...(!allowed && { status: { code: 422, reason: "Invalid", message: problems.join("; ") } }),
      },
    });
  }
}
