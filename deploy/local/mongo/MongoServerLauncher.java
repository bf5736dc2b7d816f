import java.util.List;
import java.util.Locale;
import java.util.Set;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;

/**
 * Runs mongo-java-server with its H2 backend as the dev stack's MongoDB-wire server.
 *
 * <p>Usage: {@code MongoServerLauncher <host> <port> <h2-data-file>}
 */
public final class MongoServerLauncher {

    /**
     * MongoDB 7.0 (wire version 21). The library reports 5.0 (wire 8) at most, and PyMongo 4.20
     * refuses servers below wire 9; production runs MongoDB 7/8.
     */
    enum ReportedVersion implements MongoVersion {
        MONGO_7_0;

        @Override
        public List<Integer> getVersionArray() {
            return List.of(7, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 21;
        }
    }

    /**
     * Commits the H2 store after every write command before the reply goes out, so an acknowledged
     * write survives a SIGKILL of the server (H2 alone commits in the background about once a
     * second).
     */
    static final class DurableH2Backend extends H2Backend {

        private static final Set<String> WRITE_COMMANDS = Set.of(
            "insert", "update", "delete", "findandmodify", "aggregate", "create", "drop",
            "dropdatabase", "createindexes", "dropindexes", "renamecollection");

        DurableH2Backend(String fileName) {
            super(fileName);
        }

        @Override
        public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
            try {
                return super.handleCommand(channel, databaseName, command, query);
            } finally {
                // A failed batch may have written part of its documents: commit those too.
                if (WRITE_COMMANDS.contains(command.toLowerCase(Locale.ROOT))) {
                    commit();
                }
            }
        }
    }

    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: MongoServerLauncher <host> <port> <h2-data-file>");
            System.exit(2);
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String dataFile = args[2];

        H2Backend backend = new DurableH2Backend(dataFile);
        backend.version(ReportedVersion.MONGO_7_0);
        MongoServer server = new MongoServer(backend);

        // SIGTERM closes the H2 file cleanly; the next start then needs no recovery.
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "mongo-shutdown"));
        server.bind(host, port);
        System.out.println("mongo-java-server (H2 " + dataFile + ") listening on " + host + ":" + port);
    }
}
