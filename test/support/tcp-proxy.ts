// A TCP proxy on loopback that a test puts between a client and a real server
// (the store and PostgreSQL, say) to cut the connection the way a network or a
// restarting database does: `cut()` destroys every open socket pair and stops
// accepting (new connections are refused), `restore()` accepts again on the
// same port. Nothing is faked: bytes pass through unchanged.
//
//   const proxy = await startTcpProxy({ host: "127.0.0.1", port: 5432 });
//   const db = proxy.rewrite(postgresUrl);   // the same URL through the proxy
//   await proxy.cut(); …; await proxy.restore();
//   await proxy.close();
import { createConnection, createServer, type Server, type Socket } from "node:net";

/** A running proxy. */
export interface TcpProxy {
  /** The loopback port it listens on (the same after `restore`). */
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Socket pairs open now. */
  readonly open: number;
  /** `url` (any `scheme://host:port/…` URL) with its host and port pointing at the proxy. */
  rewrite(url: string): string;
  /** Destroys every open connection and stops accepting; resolves once the port is closed. */
  cut(): Promise<void>;
  /** Accepts again on the same port. */
  restore(): Promise<void>;
  /** Cuts and stops for good. Idempotent. */
  close(): Promise<void>;
}

/** Starts a proxy from an ephemeral loopback port (or `port`) to `target`. */
export async function startTcpProxy(
  target: { host: string; port: number },
  options: { port?: number } = {},
): Promise<TcpProxy> {
  const pairs = new Set<Socket>();
  let accepted = 0;
  let server: Server | undefined;
  let port = options.port ?? 0;

  const onConnection = (client: Socket) => {
    accepted++;
    const upstream = createConnection(target);
    pairs.add(client);
    pairs.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(client);
      pairs.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(onConnection);
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        s.off("error", reject);
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });

  const stop = async () => {
    const s = server;
    server = undefined;
    for (const socket of pairs) socket.destroy();
    pairs.clear();
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  let closed = false;
  return {
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size / 2;
    },
    rewrite(url) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    cut: stop,
    async restore() {
      if (closed) throw new Error("the proxy is closed");
      if (server === undefined) await listen();
    },
    async close() {
      closed = true;
      await stop();
    },
  };
}
