/**
 * A TCP relay in front of the test database that can stop answering and answer again: a database
 * that goes away, as the driver sees it, without the test touching the driver.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpRelay {
  /** The database URI through the relay. */
  readonly uri: string;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpRelay(databaseUri: string): Promise<TcpRelay> {
  const target = new URL(databaseUri);
  const sockets = new Set<Socket>();
  let answering = true;
  const server = createServer((client) => {
    if (!answering) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port || 27017), target.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const via = new URL(databaseUri);
  via.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  // One server, reached through the relay: no discovery of the hosts behind it.
  via.searchParams.set('directConnection', 'true');
  return {
    uri: via.toString(),
    cut() {
      answering = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      answering = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((done) => server.close(done));
    },
  };
}
