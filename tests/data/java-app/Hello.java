// A cf-style Java app for devloop's tests (the JDK's own HTTP server, no dependencies): it
// listens on $PORT and answers with the greeting, its instance index and the app's name from
// VCAP_APPLICATION, as Spring apps on Cloud Foundry read them.
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public class Hello {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        String index = System.getenv().getOrDefault("CF_INSTANCE_INDEX", "?");
        String opts = System.getenv().getOrDefault("JAVA_OPTS", "");
        String heap = Long.toString(Runtime.getRuntime().maxMemory() / (1024 * 1024));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/", exchange -> {
            byte[] body = ("hello from java " + index + " heap " + heap + "M opts " + opts + "\n")
                .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        System.out.println("listening on :" + port);
    }
}
