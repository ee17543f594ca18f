import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

import java.net.InetSocketAddress;
import java.util.List;

/**
 * Launches mongo-java-server for the bot's embedded mode and its tests.
 *
 * The stock server advertises wire version 8, which the MongoDB Node driver 7 (under mongoose 9)
 * refuses; advertising 6.0 / wire 17 lets it connect. Usage:
 *   EmbeddedMongo [--host 127.0.0.1] [--port 0] [--h2 path/to/file.mv]   (no --h2: memory backend)
 * Prints "LISTENING host:port" once bound, and shuts down cleanly (flushing H2) when stdin closes
 * or on SIGTERM, so it never outlives the process that started it.
 */
public final class EmbeddedMongo {
  private static final MongoVersion V6 = new MongoVersion() {
    @Override public List<Integer> getVersionArray() { return List.of(6, 0, 0); }
    @Override public int getWireVersion() { return 17; }
  };

  public static void main(String[] args) throws Exception {
    String host = "127.0.0.1";
    int port = 0;
    String h2 = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--host" -> host = args[++i];
        case "--port" -> port = Integer.parseInt(args[++i]);
        case "--h2" -> h2 = args[++i];
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    MongoBackend backend = h2 == null ? new MemoryBackend() : new H2Backend(h2);
    backend.version(V6);
    MongoServer server = new MongoServer(backend);
    server.bind(host, port);
    InetSocketAddress addr = server.getLocalAddress();
    Object lock = new Object();
    boolean[] stopped = {false};
    Runnable stop = () -> {
      synchronized (lock) {
        if (stopped[0]) return;
        stopped[0] = true;
      }
      server.shutdown();
      backend.close();
    };
    Runtime.getRuntime().addShutdownHook(new Thread(stop));
    System.out.println("LISTENING " + addr.getHostString() + ":" + addr.getPort());
    System.out.flush();
    // The parent holds our stdin; EOF means it is gone (or asked us to stop).
    while (System.in.read() != -1) { /* ignore input */ }
    stop.run();
    System.exit(0);
  }
}
