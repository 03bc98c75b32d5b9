using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal demo responder</c>: the tiny program the demo's service runs as its tasks. It answers every HTTP request
/// on 127.0.0.1 with one line naming the task that served it, logs one line per request (so <c>service logs</c> has
/// something to show) and a line when it starts and stops, and exits 0 on SIGTERM or Ctrl-C. The process executor
/// gives it the task's identity in SHOAL_TASK_ID, SHOAL_TASK_SLOT and SHOAL_NODE_ID; its answers start with GREETING
/// (from the service's environment, "hello" when unset), so a change of spec rolled out by <c>service update
/// --env-add GREETING=…</c> shows in what each replica answers.
/// </summary>
internal static class DemoResponder
{
    /// <summary>The environment variable whose value starts every answer.</summary>
    public const string GreetingVariable = "GREETING";

    /// <summary>What the start line says before the address (<c>http://127.0.0.1:port</c>); the demo finds each replica by it.</summary>
    public const string ListeningOn = "listening on http://";

    private static readonly Option<int> Port = new("--port")
    {
        Description = "The TCP port on 127.0.0.1 to answer on; 0 (the default) lets the OS pick one, so that many replicas share a host",
        DefaultValueFactory = _ => 0,
    };

    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("responder", "The tiny HTTP responder the demo's service runs: one line per request naming the task that answered");
        command.Options.Add(Port);
        Port.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 0 or > 65535)
            {
                r.AddError("--port must be between 0 and 65535");
            }
        });
        command.SetAction((parse, cancellationToken) => RunAsync(environment, parse.GetValue(Port), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CliEnvironment environment, int port, CancellationToken cancellationToken)
    {
        var task = environment.Variable("SHOAL_TASK_ID") ?? "local";
        var slot = environment.Variable("SHOAL_TASK_SLOT") ?? "-";
        var node = environment.Variable("SHOAL_NODE_ID") ?? Environment.MachineName;
        var greeting = environment.Variable(GreetingVariable) is { Length: > 0 } g ? g : "hello";
        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        await environment.Out.WriteLineAsync($"replica {slot} (task {task}) says {greeting}, {ListeningOn}{endpoint}");
        await environment.Out.FlushAsync(cancellationToken);
        var served = 0;
        try
        {
            while (true)
            {
                using var client = await listener.AcceptTcpClientAsync(cancellationToken);
                served++;
                var stream = client.GetStream();
                var request = await ReadRequestLineAsync(stream, cancellationToken);
                var body = $"{greeting} from replica {slot} (task {task}) on node {node}; request {served}\n";
                var response = string.Create(
                    CultureInfo.InvariantCulture,
                    $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}");
                await stream.WriteAsync(Encoding.UTF8.GetBytes(response), cancellationToken);
                await environment.Out.WriteLineAsync($"served {request} (request {served})");
                await environment.Out.FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }

        await environment.Out.WriteLineAsync($"replica {slot} stopping after {served} requests");
        return 0;
    }

    /// <summary>The request line ("GET / HTTP/1.1"), reading the head up to its blank line.</summary>
    private static async Task<string> ReadRequestLineAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var head = new StringBuilder();
        var buffer = new byte[1024];
        while (head.Length < 16 * 1024 && !head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                break;
            }

            head.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        var text = head.ToString();
        var end = text.IndexOf('\r', StringComparison.Ordinal);
        return end < 0 ? text.Trim() : text[..end];
    }
}
