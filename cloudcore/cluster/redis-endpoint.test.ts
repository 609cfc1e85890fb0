import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { loadCloudcoreConfig } from "../config.js";
import { parseRedisEndpoint, redactUrlText, RedisEndpoint, RedisEndpointError } from "./redis-endpoint.js";

const problemOf = (url: string): string => {
  try {
    parseRedisEndpoint(url);
  } catch (err) {
    expect(err).toBeInstanceOf(RedisEndpointError);
    expect((err as RedisEndpointError).code).toBe("EF_ERR_REDIS_ENDPOINT");
    expect((err as Error).message).toMatch(/^redisUrl: /);
    return (err as RedisEndpointError).problem;
  }
  throw new Error(`${url} parsed`);
};

describe("Redis endpoint strings", () => {
  it("redis:// and rediss://: one server, optional credentials and database", () => {
    expect(parseRedisEndpoint("redis://127.0.0.1:6380")).toEqual({
      mode: "single",
      tls: false,
      server: { host: "127.0.0.1", port: 6380 },
      db: 0,
    });
    expect(parseRedisEndpoint("rediss://app:s%40cret@redis.example.com/3")).toEqual({
      mode: "single",
      tls: true,
      server: { host: "redis.example.com", port: 6379 },
      db: 3,
      username: "app",
      password: "s@cret",
    });
    expect(parseRedisEndpoint("redis://:pw@[::1]:7000/")).toMatchObject({
      server: { host: "::1", port: 7000 },
      password: "pw",
    });
    // A password with a literal "@" or "/" still parses: the user info ends at the last "@".
    expect(parseRedisEndpoint("redis://:a/b@c@h:1/2")).toMatchObject({ password: "a/b@c", db: 2 });
  });

  it("redis+sentinel://: sentinels, master name, database, the sentinels' own credentials", () => {
    expect(
      parseRedisEndpoint(
        "redis+sentinel://u:p@10.0.0.1:26380,10.0.0.2,sentinel-3:26381/mymaster/1?sentinelPassword=s%26p&sentinelUsername=sen",
      ),
    ).toEqual({
      mode: "sentinel",
      tls: false,
      sentinels: [
        { host: "10.0.0.1", port: 26380 },
        { host: "10.0.0.2", port: 26379 },
        { host: "sentinel-3", port: 26381 },
      ],
      masterName: "mymaster",
      db: 1,
      username: "u",
      password: "p",
      sentinelUsername: "sen",
      sentinelPassword: "s&p",
    });
    expect(parseRedisEndpoint("rediss+sentinel://s1:1/m")).toMatchObject({
      tls: true,
      db: 0,
      masterName: "m",
    });
  });

  it("redis+cluster://: seed nodes", () => {
    expect(parseRedisEndpoint("redis+cluster://:pw@n1:7000,n2:7001,n3")).toEqual({
      mode: "cluster",
      tls: false,
      nodes: [
        { host: "n1", port: 7000 },
        { host: "n2", port: 7001 },
        { host: "n3", port: 6379 },
      ],
      password: "pw",
    });
    expect(parseRedisEndpoint("REDISS+CLUSTER://n1:7000/")).toMatchObject({ mode: "cluster", tls: true });
  });

  it("a bad string is refused with its problem named", () => {
    expect(problemOf("")).toBe("is empty");
    expect(problemOf("127.0.0.1:6379")).toMatch(/must be a URL starting with one of redis:\/\//);
    expect(problemOf("http://h:1")).toMatch(/scheme "http:\/\/" is not one of/);
    expect(problemOf("redis://")).toBe("no host given");
    expect(problemOf("redis://a:1,b:2")).toMatch(
      /redis:\/\/ takes one host; for several use redis\+sentinel/,
    );
    expect(problemOf("redis://h:0")).toMatch(/host 1 \("h:0"\): port is not a port number \(1-65535\)/);
    expect(problemOf("redis://h:65536")).toMatch(/port is not a port number/);
    expect(problemOf("redis://h:x")).toMatch(/host 1 \("h:x"\): port is not a port number/);
    expect(problemOf("redis://a b:1")).toMatch(/host 1 \("a b:1"\): host is not a host name or IP address/);
    expect(problemOf("redis://h/abc")).toMatch(/database must be a number/);
    expect(problemOf("redis://h/1/2")).toMatch(/path "\/1\/2" is not \/<db>/);
    expect(problemOf("redis://h?db=1")).toBe('unknown query parameter "db" (redis:// takes none)');
    expect(problemOf("redis://h#x")).toMatch(/must not contain '#'/);
    expect(problemOf("redis://:@h")).toBe("password is empty");
    expect(problemOf("redis://:%zz@h")).toMatch(/password is not valid percent-encoding/);
    expect(problemOf("redis+sentinel://s1:1")).toMatch(/master name is missing/);
    expect(problemOf("redis+sentinel://s1:1/m/0/x")).toMatch(/is not \/<masterName>\[\/<db>\]/);
    expect(problemOf("redis+sentinel://s1:1,,s2/m")).toMatch(/empty host in the host list/);
    expect(problemOf("redis+sentinel://s1:1/m?password=x")).toBe(
      'unknown query parameter "password" (allowed: sentinelUsername, sentinelPassword)',
    );
    expect(problemOf("redis+sentinel://s1:1/m?sentinelPassword=a&sentinelPassword=b")).toBe(
      'query parameter "sentinelPassword" is given twice',
    );
    expect(problemOf("redis+sentinel://s1:1/m?sentinelPassword=")).toBe("sentinelPassword is empty");
    expect(problemOf("redis+cluster://n1:1/0")).toMatch(/Redis Cluster has only database 0/);
    expect(problemOf("redis+cluster://n1:1,n1:1")).toBe("a host:port is given twice");
  });

  it("never shows a password: not in errors, not in redacted()", () => {
    for (const url of [
      "redis://secret@h:1", // a password where the user name goes
      "redis://:secret@h:1/x",
      "redis://u:sec/ret@h:1,h2",
      "redis+sentinel://:secret@s:1/m?sentinelPassword=secret&x=1",
      "redis+sentinel://:secret@s:1?sentinelPassword=secret",
      "redis+cluster://:secret@n:1/7",
      "redis://:%zzsecret@h",
      "bogus://:secret@h",
    ]) {
      const message = (() => {
        try {
          parseRedisEndpoint(url);
          return "";
        } catch (err) {
          return (err as Error).message;
        }
      })();
      expect(message).not.toBe("");
      expect(message).not.toContain("secret");
      expect(message).toContain("***");
    }
    const endpoint = RedisEndpoint.parse(
      "redis+sentinel://app:secret@s1:26379,s2:26380/mymaster/2?sentinelPassword=secret2",
    );
    expect(endpoint.redacted()).toBe(
      "redis+sentinel://app:***@s1:26379,s2:26380/mymaster/2?sentinelPassword=***",
    );
    expect(RedisEndpoint.parse("rediss://:secret@h:1").redacted()).toBe("rediss://:***@h:1/0");
    expect(RedisEndpoint.parse("redis+cluster://n1:1,[::1]:2").redacted()).toBe(
      "redis+cluster://n1:1,[::1]:2",
    );
    expect(redactUrlText("redis://u:p?x@h")).toBe("redis://u:***@h");
  });

  it("makes a Redis for one server or a Sentinel group and a Cluster with auto-pipelining", async () => {
    const single = RedisEndpoint.parse("redis://:pw@127.0.0.1:6390/2").client({
      lazyConnect: true,
      maxRetriesPerRequest: 3,
    });
    expect(single).toBeInstanceOf(Redis);
    expect((single as Redis).options).toMatchObject({
      host: "127.0.0.1",
      port: 6390,
      db: 2,
      password: "pw",
      maxRetriesPerRequest: 3,
      lazyConnect: true,
    });
    const sentinel = RedisEndpoint.parse(
      "redis+sentinel://:pw@s1:1,s2:2/mymaster?sentinelPassword=sp",
    ).subscriber();
    expect((sentinel as Redis).options).toMatchObject({
      sentinels: [
        { host: "s1", port: 1 },
        { host: "s2", port: 2 },
      ],
      name: "mymaster",
      password: "pw",
      sentinelPassword: "sp",
      lazyConnect: true,
    });
    // Off on purpose: ioredis 5.11's failover detector can end a reconnecting client (redis-endpoint.ts).
    expect((sentinel as Redis).options.failoverDetector).toBeFalsy();
    const cluster = RedisEndpoint.parse("redis+cluster://:pw@n1:7000,n2:7001").client({ lazyConnect: true });
    expect(cluster).toBeInstanceOf(Cluster);
    expect((cluster as Cluster).options).toMatchObject({
      enableAutoPipelining: true,
      redisOptions: { password: "pw" },
    });
    for (const c of [single, sentinel, cluster]) c.disconnect();
  });

  it("TLS: a CA file is read at parse time, and only for TLS URLs", () => {
    const dir = mkdtempSync(join(tmpdir(), "redis-ca-"));
    const ca = join(dir, "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n");
    const tls = RedisEndpoint.parse("rediss://h:1", { tlsCaFile: ca }).client({ lazyConnect: true });
    expect((tls as Redis).options.tls).toEqual({ ca: expect.stringContaining("BEGIN CERTIFICATE") });
    tls.disconnect();
    const sentinel = RedisEndpoint.parse("rediss+sentinel://s:1/m").client({ lazyConnect: true });
    expect((sentinel as Redis).options).toMatchObject({
      enableTLSForSentinelMode: true,
      sentinelTLS: {},
      tls: {},
    });
    sentinel.disconnect();
    expect(() => RedisEndpoint.parse("redis://h:1", { tlsCaFile: ca })).toThrow(/the URL does not use TLS/);
    expect(() => RedisEndpoint.parse("rediss://h:1", { tlsCaFile: join(dir, "none.pem") })).toThrow(
      /redisTlsCaFile .*none\.pem cannot be read/,
    );
  });

  it("passwords come from files (one trailing newline dropped) and never from two places at once", () => {
    const dir = mkdtempSync(join(tmpdir(), "redis-pw-"));
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const pw = file("pw", "s3cret with space \n");
    const sp = file("sp", "sentinel-pw");
    const single = RedisEndpoint.parse("redis://h:1", { passwordFile: pw }).client({ lazyConnect: true });
    expect((single as Redis).options.password).toBe("s3cret with space ");
    single.disconnect();
    const sentinel = RedisEndpoint.parse("redis+sentinel://s:1/m", {
      passwordFile: pw,
      sentinelPasswordFile: sp,
    });
    expect(sentinel.redacted()).toBe("redis+sentinel://:***@s:1/m/0?sentinelPassword=***");
    const client = sentinel.client({ lazyConnect: true });
    expect((client as Redis).options).toMatchObject({
      password: "s3cret with space ",
      sentinelPassword: "sentinel-pw",
    });
    client.disconnect();
    const cluster = RedisEndpoint.parse("redis+cluster://n:1", { passwordFile: pw }).client({
      lazyConnect: true,
    });
    expect((cluster as Cluster).options.redisOptions).toMatchObject({ password: "s3cret with space " });
    cluster.disconnect();

    const problem = (url: string, files: Parameters<typeof RedisEndpoint.parse>[1]): string => {
      try {
        RedisEndpoint.parse(url, files);
      } catch (err) {
        expect(err).toBeInstanceOf(RedisEndpointError);
        expect((err as Error).message).not.toContain("secret");
        return (err as RedisEndpointError).problem;
      }
      throw new Error("parsed");
    };
    expect(problem("redis://:secret@h:1", { passwordFile: pw })).toMatch(
      /the URL has a password and redisPasswordFile/,
    );
    expect(problem("redis://h:1", { passwordFile: join(dir, "none") })).toMatch(
      /redisPasswordFile .*none cannot be read/,
    );
    expect(problem("redis://h:1", { passwordFile: file("empty", "\n") })).toMatch(
      /redisPasswordFile .*empty is empty/,
    );
    expect(problem("redis://h:1", { sentinelPasswordFile: sp })).toMatch(
      /redisSentinelPasswordFile is for a sentinel URL/,
    );
    expect(problem("redis+sentinel://s:1/m?sentinelPassword=secret", { sentinelPasswordFile: sp })).toMatch(
      /the URL has sentinelPassword and redisSentinelPasswordFile/,
    );
    expect(() => loadCloudcoreConfig(undefined, { redisPasswordFile: pw })).toThrow(
      /field redisPasswordFile: a password file is for a redisUrl/,
    );
    expect(() =>
      loadCloudcoreConfig(undefined, { redisUrl: "redis://h:1", redisSentinelPasswordFile: sp }),
    ).toThrow(/field redisSentinelPasswordFile: a sentinel password file is for a sentinel redisUrl/);
  });

  it("cloudcore's config takes the new forms and names redisUrl when one is wrong", () => {
    for (const url of ["redis://h:1", "redis+sentinel://s1:1,s2:2/m", "rediss+cluster://n1:1,n2:2"])
      expect(loadCloudcoreConfig(undefined, { redisUrl: url }).redisUrl).toBe(url);
    expect(() => loadCloudcoreConfig(undefined, { redisUrl: "redis+sentinel://s1:1" })).toThrow(
      /field redisUrl: master name is missing/,
    );
    expect(() => loadCloudcoreConfig(undefined, { redisUrl: "redis://:secret@h:x" })).toThrow(
      /^(?!.*secret).*field redisUrl: host 1/,
    );
    expect(() =>
      loadCloudcoreConfig(undefined, { redisUrl: "redis://h:1", redisTlsCaFile: "/ca.pem" }),
    ).toThrow(/field redisTlsCaFile: a CA file is for a TLS redisUrl/);
    expect(
      loadCloudcoreConfig(undefined, { redisUrl: "rediss://h:1", redisTlsCaFile: "/ca.pem" }),
    ).toMatchObject({
      redisTlsCaFile: "/ca.pem",
    });
  });
});
