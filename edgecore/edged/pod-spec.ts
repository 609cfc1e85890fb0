import { z } from "zod";

/**
 * The parts of a Pod that edged acts on, validated when the pod arrives. Unknown fields pass
 * through untouched (the pod is stored whole); a pod that does not validate is reported Failed
 * with the offending field, rather than half-run.
 */
const KeyRef = z.object({ name: z.string().optional(), key: z.string(), optional: z.boolean().optional() });
const NameRef = z.object({ name: z.string().optional(), optional: z.boolean().optional() });
const FieldRef = z.object({ fieldPath: z.string(), apiVersion: z.string().optional() });
const ResourceFieldRef = z.object({
  containerName: z.string().optional(),
  resource: z.string(),
  divisor: z.union([z.string(), z.number()]).optional(),
});

const EnvVar = z.object({
  name: z.string().min(1),
  value: z.string().optional(),
  valueFrom: z
    .object({
      configMapKeyRef: KeyRef.optional(),
      secretKeyRef: KeyRef.optional(),
      fieldRef: FieldRef.optional(),
      resourceFieldRef: ResourceFieldRef.optional(),
    })
    .optional(),
});

const EnvFrom = z.object({
  prefix: z.string().optional(),
  configMapRef: NameRef.optional(),
  secretRef: NameRef.optional(),
});

const Quantity = z.union([z.string(), z.number()]);
const Resources = z
  .object({ limits: z.record(Quantity).optional(), requests: z.record(Quantity).optional() })
  .passthrough();

const ExecAction = z.object({ command: z.array(z.string()).min(1) });
const Probe = z
  .object({
    exec: ExecAction.optional(),
    httpGet: z
      .object({
        path: z.string().optional(),
        port: z.union([z.number().int(), z.string()]),
        host: z.string().optional(),
        scheme: z.enum(["HTTP", "HTTPS"]).optional(),
      })
      .optional(),
    tcpSocket: z
      .object({ port: z.union([z.number().int(), z.string()]), host: z.string().optional() })
      .optional(),
    initialDelaySeconds: z.number().int().nonnegative().optional(),
    periodSeconds: z.number().int().positive().optional(),
    timeoutSeconds: z.number().int().positive().optional(),
    failureThreshold: z.number().int().positive().optional(),
    successThreshold: z.number().int().positive().optional(),
  })
  .passthrough();

export const ContainerSpec = z
  .object({
    name: z.string().min(1),
    image: z.string().min(1),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    env: z.array(EnvVar).optional(),
    envFrom: z.array(EnvFrom).optional(),
    volumeMounts: z
      .array(
        z.object({
          name: z.string(),
          mountPath: z.string().startsWith("/", "must be an absolute path"),
          readOnly: z.boolean().optional(),
          subPath: z.string().optional(),
        }),
      )
      .optional(),
    ports: z
      .array(
        z
          .object({
            containerPort: z.number().int().min(1).max(65535),
            hostPort: z.number().int().min(0).max(65535).optional(),
            protocol: z.enum(["TCP", "UDP", "SCTP"]).optional(),
            name: z.string().optional(),
          })
          .passthrough(),
      )
      .optional(),
    resources: Resources.optional(),
    readinessProbe: Probe.optional(),
    livenessProbe: Probe.optional(),
    stdin: z.boolean().optional(),
    stdinOnce: z.boolean().optional(),
    tty: z.boolean().optional(),
    imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
    securityContext: z
      .object({
        privileged: z.boolean().optional(),
        runAsUser: z.number().int().nonnegative().optional(),
        runAsGroup: z.number().int().nonnegative().optional(),
        readOnlyRootFilesystem: z.boolean().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();

const KeyToPath = z.object({ key: z.string(), path: z.string(), mode: z.number().int().optional() });

export const VolumeSpec = z
  .object({
    name: z.string().min(1),
    configMap: z
      .object({
        name: z.string(),
        items: z.array(KeyToPath).optional(),
        defaultMode: z.number().int().optional(),
        optional: z.boolean().optional(),
      })
      .optional(),
    secret: z
      .object({
        secretName: z.string(),
        items: z.array(KeyToPath).optional(),
        defaultMode: z.number().int().optional(),
        optional: z.boolean().optional(),
      })
      .optional(),
    emptyDir: z
      .object({ medium: z.string().optional(), sizeLimit: Quantity.optional() })
      .passthrough()
      .optional(),
    hostPath: z.object({ path: z.string().startsWith("/"), type: z.string().optional() }).optional(),
    downwardAPI: z
      .object({
        items: z.array(z.object({ path: z.string(), fieldRef: FieldRef.optional() }).passthrough()),
        defaultMode: z.number().int().optional(),
      })
      .optional(),
    projected: z
      .object({
        defaultMode: z.number().int().optional(),
        sources: z.array(
          z
            .object({
              configMap: z
                .object({
                  name: z.string(),
                  items: z.array(KeyToPath).optional(),
                  optional: z.boolean().optional(),
                })
                .optional(),
              secret: z
                .object({
                  name: z.string(),
                  items: z.array(KeyToPath).optional(),
                  optional: z.boolean().optional(),
                })
                .optional(),
              downwardAPI: z
                .object({
                  items: z.array(z.object({ path: z.string(), fieldRef: FieldRef.optional() }).passthrough()),
                })
                .optional(),
              serviceAccountToken: z
                .object({
                  path: z.string(),
                  audience: z.string().optional(),
                  expirationSeconds: z.number().int().optional(),
                })
                .optional(),
            })
            .passthrough(),
        ),
      })
      .optional(),
  })
  .passthrough();

export const PodSpec = z
  .object({
    apiVersion: z.string().optional(),
    kind: z.string().optional(),
    metadata: z
      .object({
        name: z.string().min(1),
        namespace: z.string().min(1),
        uid: z.string().min(1),
        labels: z.record(z.string()).optional(),
        annotations: z.record(z.string()).optional(),
        deletionTimestamp: z.string().optional(),
        deletionGracePeriodSeconds: z.number().int().nonnegative().optional(),
        generation: z.number().optional(),
      })
      .passthrough(),
    spec: z
      .object({
        nodeName: z.string().optional(),
        containers: z.array(ContainerSpec).min(1, "a pod needs at least one container"),
        initContainers: z.array(ContainerSpec).optional(),
        volumes: z.array(VolumeSpec).optional(),
        restartPolicy: z.enum(["Always", "OnFailure", "Never"]).optional(),
        hostNetwork: z.boolean().optional(),
        hostname: z.string().optional(),
        subdomain: z.string().optional(),
        serviceAccountName: z.string().optional(),
        terminationGracePeriodSeconds: z.number().int().nonnegative().optional(),
        activeDeadlineSeconds: z.number().int().positive().optional(),
        dnsPolicy: z.string().optional(),
      })
      .passthrough(),
    status: z.record(z.unknown()).optional(),
  })
  .passthrough();

export type Pod = z.infer<typeof PodSpec>;
export type Container = z.infer<typeof ContainerSpec>;
export type Volume = z.infer<typeof VolumeSpec>;

/** Validates a pod; returns it or the first problem as `<field path>: <message>`. */
export function parsePod(object: unknown): { pod: Pod } | { error: string } {
  const parsed = PodSpec.safeParse(object);
  if (parsed.success) return { pod: parsed.data };
  const issue = parsed.error.issues[0];
  return { error: `${issue?.path.join(".") || "(pod)"}: ${issue?.message ?? "invalid"}` };
}
