using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Shoal.Node;

namespace Shoal.Cli.Commands;

/// <summary>
/// <c>shoal agent</c>: runs one node in the foreground until SIGTERM or SIGINT. The node restarts from its data
/// directory; it joins or founds a swarm when told so through its local API (<c>shoal swarm init|join</c>).
/// </summary>
internal static class AgentCommand
{
    private static readonly Option<string> DataDir = new("--data-dir")
    {
        Description = "Where the node keeps its identity, certificates, Raft state and tasks (created 0700)",
        DefaultValueFactory = _ => NodeOptions.DefaultDataDirectory,
    };

    private static readonly Option<string> ListenAddr = new("--listen-addr")
    {
        Description = "The cluster port's address when this node is a manager (host:port)",
        DefaultValueFactory = _ => "0.0.0.0:4242",
    };

    private static readonly Option<string?> AdvertiseAddr = new("--advertise-addr")
    {
        Description = "The address other nodes dial to reach this manager (host[:port]); default: from --listen-addr, or the host's only address",
    };

    private static readonly Option<string?> ApiSocket = new("--api-socket")
    {
        Description = "The local API's unix socket; default: <data-dir>/shoal.sock",
    };

    private static readonly Option<string?> Hostname = new("--hostname")
    {
        Description = "The hostname this node reports (to tell apart several nodes on one machine); default: the machine's",
    };

    private static readonly Option<string> LogLevelOption = new("--log-level")
    {
        Description = "Logging level: trace, debug, info, warn, error or none",
        DefaultValueFactory = _ => "info",
    };

    private static readonly Option<bool> JsonLogs = new("--log-json")
    {
        Description = "Write logs as JSON lines (one object per event) instead of text",
    };

    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("agent", "Run a node: the agent always, and the manager part while the node is a manager. Stops gracefully on SIGTERM or SIGINT.");
        command.Options.Add(DataDir);
        command.Options.Add(ListenAddr);
        command.Options.Add(AdvertiseAddr);
        command.Options.Add(ApiSocket);
        command.Options.Add(Hostname);
        command.Options.Add(LogLevelOption);
        command.Options.Add(JsonLogs);
        LogLevelOption.Validators.Add(result =>
        {
            if (ParseLevel(result.GetValueOrDefault<string>()) is null)
            {
                result.AddError($"--log-level \"{result.GetValueOrDefault<string>()}\": expected trace, debug, info, warn, error or none");
            }
        });
        command.SetAction((parse, cancellationToken) => RunAsync(parse, environment, cancellationToken));
        return command;
    }

    private static LogLevel? ParseLevel(string? level) => level?.ToLowerInvariant() switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" or "information" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "none" => LogLevel.None,
        _ => null,
    };

    private static async Task<int> RunAsync(ParseResult parse, CliEnvironment environment, CancellationToken cancellationToken)
    {
        var level = ParseLevel(parse.GetValue(LogLevelOption)) ?? LogLevel.Information;
        var json = parse.GetValue(JsonLogs);
        using var loggerFactory = LoggerFactory.Create(logging =>
        {
            logging.SetMinimumLevel(level);

            // Shoal's own events at the chosen level; the frameworks' only when they warn.
            logging.AddFilter("Microsoft", LogLevel.Warning);
            logging.AddFilter("Grpc", LogLevel.Warning);
            logging.AddFilter("System", LogLevel.Warning);
            if (json)
            {
                logging.AddJsonConsole(o => o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ");
            }
            else
            {
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
                    o.UseUtcTimestamp = true;
                    o.ColorBehavior = LoggerColorBehavior.Disabled;
                });
            }

            logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });

        var options = new NodeOptions
        {
            DataDirectory = Path.GetFullPath(parse.GetValue(DataDir)!),
            ListenAddress = parse.GetValue(ListenAddr)!,
            AdvertiseAddress = parse.GetValue(AdvertiseAddr),
            ApiSocket = parse.GetValue(ApiSocket) is { } socket ? Path.GetFullPath(socket) : null,
            Hostname = parse.GetValue(Hostname),
            LoggerFactory = loggerFactory,
        };

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        ShoalNode node;
        try
        {
            node = await ShoalNode.StartAsync(options, stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ArgumentException or NodeStartException)
        {
            await environment.Error.WriteLineAsync($"shoal agent: {e.Message}").ConfigureAwait(false);
            return 1;
        }

        await using (node.ConfigureAwait(false))
        {
            await environment.Error.WriteLineAsync($"shoal agent: node running, local API on unix://{node.ApiSocketPath}").ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            await environment.Error.WriteLineAsync("shoal agent: stopping").ConfigureAwait(false);
        }

        return 0;
    }
}
