using Grpc.Core;
using Microsoft.Extensions.Logging;
using Shoal.Agent;
using Shoal.Agent.Executors;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Client;

namespace Shoal.Bench.Hollow;

/// <summary>
/// A worker node without a runtime, living in the harness's process: it joins through the real join path
/// (<see cref="JoinClient"/> with the worker token: root CA pinned by the token, key made here, certificate issued by
/// the managers' CA), then holds a real mutual-TLS session (<see cref="AgentSession"/>: registration, heartbeats,
/// assignments, status reports) whose assignments the real <see cref="Worker"/> applies — with a
/// <see cref="HollowExecutor"/>, so tasks run at once and until stopped, without processes. Wired as
/// <c>ShoalNode.Membership</c> wires a worker, less the certificate renewer (certificates outlive a run) and the log
/// agent (hollow tasks write no logs).
/// </summary>
public sealed class HollowWorker : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly HollowExecutor _executor;
    private Task _run = Task.CompletedTask;
    private int _sessionFailures;
    private int _killed;

    private HollowWorker(string name, string dataDirectory, NodeSecurity security, IReadOnlyList<string> managers, HollowExecutor executor, ILoggerFactory loggers)
    {
        Name = name;
        DataDirectory = dataDirectory;
        Security = security;
        _executor = executor;
        Worker = new Worker(
            new WorkerOptions { DataDirectory = dataDirectory },
            executor,
            (updates, ct) => Session!.ReportStatusAsync(updates, ct),
            loggerFactory: loggers);
        Session = new AgentSession(
            security,
            new AgentOptions { Managers = managers },
            Worker,
            new ExecutorDescriptionProvider(executor, new HollowDescription(name)),
            logger: loggers.CreateLogger<AgentSession>());
        Session.SessionFailed += (_, e) =>
        {
            Interlocked.Increment(ref _sessionFailures);
            LastSessionError = e.Message;
        };
    }

    /// <summary>The harness's name for the node (also its hostname in the node description).</summary>
    public string Name { get; }

    /// <summary>Where its certificates and task records are.</summary>
    public string DataDirectory { get; }

    /// <summary>The node's credentials.</summary>
    public NodeSecurity Security { get; }

    /// <summary>The node ID the CA gave it.</summary>
    public string NodeId => Security.NodeId;

    /// <summary>The real worker applying its assignments.</summary>
    public Worker Worker { get; }

    /// <summary>The real session with the dispatcher.</summary>
    public AgentSession Session { get; }

    /// <summary>Tasks the hollow runtime holds now.</summary>
    public int TaskCount => _executor.Count;

    /// <summary>Sessions that failed (and were opened again) so far.</summary>
    public int SessionFailures => Volatile.Read(ref _sessionFailures);

    /// <summary>The message of the last session failure, if any.</summary>
    public string? LastSessionError { get; private set; }

    /// <summary>Whether <see cref="Kill"/> was called.</summary>
    public bool IsKilled => Volatile.Read(ref _killed) == 1;

    /// <summary>
    /// Joins the swarm through the first of <paramref name="managers"/> that answers with <paramref name="token"/>,
    /// writing the certificates under <paramref name="dataDirectory"/>, and starts the node's session.
    /// </summary>
    public static async Task<HollowWorker> JoinAsync(
        string name,
        string dataDirectory,
        IReadOnlyList<string> managers,
        string token,
        HollowExecutor executor,
        ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(managers);
        ArgumentNullException.ThrowIfNull(loggers);
        Directory.CreateDirectory(dataDirectory);
        var client = new JoinClient(logger: loggers.CreateLogger<JoinClient>());
        var certificates = new CertificateDirectory(Path.Combine(dataDirectory, "certificates"));
        for (var i = 0; ; i++)
        {
            try
            {
                var credentials = await client.JoinAsync(managers[i % managers.Count], token, certificates, cancellationToken: cancellationToken);
                var worker = new HollowWorker(name, dataDirectory, new NodeSecurity(credentials), managers, executor, loggers);
                worker.Start();
                return worker;
            }
            catch (Exception e) when (i + 1 < managers.Count && e is RpcException or TimeoutException or HttpRequestException or JoinException)
            {
                // The next manager, as ShoalNode.JoinThroughAnyAsync does.
            }
        }
    }

    /// <summary>
    /// Drops the node as a kill -9 would: the session's calls are cancelled and its connection closed, without any
    /// goodbye; the worker's loops stop. The managers learn of it only through missed heartbeats.
    /// </summary>
    public void Kill()
    {
        if (Interlocked.Exchange(ref _killed, 1) == 0)
        {
            _stop.Cancel();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        Kill();
        await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await Worker.DisposeAsync();
        Session.Dispose();
        _stop.Dispose();
    }

    private void Start() => _run = Task.Run(async () =>
    {
        await Worker.StartAsync(_stop.Token);
        await Session.RunAsync(_stop.Token);
    });

    /// <summary>A fixed description: the node's own hostname, a modest machine, read once rather than from the host.</summary>
    private sealed class HollowDescription(string hostname) : NodeDescriptionProvider
    {
        public override NodeDescription Describe() => new()
        {
            Hostname = hostname,
            Platform = new Platform { Os = "linux", Architecture = "x86_64" },
            Resources = new Resources { NanoCpus = 2_000_000_000L, MemoryBytes = 4L << 30 },
            Engine = new EngineDescription { EngineVersion = "hollow" },
        };
    }
}
