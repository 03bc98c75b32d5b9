using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Shoal.Agent;
using Shoal.Agent.Logs;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.Ca.Forwarding;
using Shoal.Manager.LogBroker;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Logs;

/// <summary>
/// A leader's cluster port serving the log broker over real mutual TLS on loopback, with worker nodes whose real
/// <see cref="LogAgent"/>s read real task log files in a temporary directory. Clients subscribe through
/// <see cref="Manager.LogBroker.LogBroker.SubscribeAsync(SubscribeLogsRequest, Func{SubscribeLogsMessage, CancellationToken, Task}, Func{Task}, CancellationToken)"/>,
/// as the control API does.
/// </summary>
internal sealed class LogBrokerHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _leading = new();
    private readonly List<WorkerNode> _workers = [];
    private readonly string _root = Directory.CreateTempSubdirectory("shoal-logbroker-").FullName;
    private readonly List<ClusterPortServer> _followers = [];
    private readonly List<IDisposable> _disposables = [];
    private Task _run = Task.CompletedTask;

    private LogBrokerHarness(MemoryStore store, Cluster cluster, ClusterPortServer port, NodeCredentials manager)
    {
        Manager = manager;
        Store = store;
        Cluster = cluster;
        Port = port;
        Broker = port.Services.GetRequiredService<Manager.LogBroker.LogBroker>();
    }

    public MemoryStore Store { get; }

    /// <summary>The manager's own credentials (a control API client holds them).</summary>
    public NodeCredentials Manager { get; }

    public Cluster Cluster { get; }

    public ClusterPortServer Port { get; }

    public Manager.LogBroker.LogBroker Broker { get; }

    public static async Task<LogBrokerHarness> StartAsync(LogBrokerOptions? options = null, bool run = true)
    {
        var store = new MemoryStore();
        var manager = await ClusterSecurity.InitializeAsync(store, TimeProvider.System);
        var port = await ClusterPortServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), new NodeSecurity(manager), new StoreRemovedNodes(store), p =>
        {
            p.Services.AddSingleton(store);
            p.Services.AddSingleton(options ?? new LogBrokerOptions { NodeListenTimeout = TimeSpan.FromMilliseconds(300) });
            p.MapLogBroker();
            p.MapService<ControlWithLogs>(Control.Descriptor);
        });
        var harness = new LogBrokerHarness(store, ClusterSecurity.FindCluster(store.View())!, port, manager);
        if (run)
        {
            harness._run = harness.Broker.RunAsync(harness._leading.Token);
        }

        return harness;
    }

    /// <summary>A certificate signed by the swarm's root CA for a new READY node, recorded in the store.</summary>
    public NodeCredentials Issue(string hostname, NodeRole role = NodeRole.Worker)
    {
        using var ca = RootCertificateAuthority.FromCluster(Cluster.RootCa);
        using var key = NodeKeys.Create();
        var nodeId = Identity.NewId();
        using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), nodeId, role, Cluster.Id, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        var node = ClusterSecurity.NewNode(nodeId, role, certificate.ExportCertificatePem(), []);
        node.Description = new NodeDescription { Hostname = hostname };
        node.Status = new NodeStatus { State = NodeState.Ready };
        Store.UpdateAsync(tx => tx.Create(node)).AsTask().GetAwaiter().GetResult();
        return NodeCredentials.Create(certificate, key, X509Certificate2.CreateFromPem(ca.CertificatePem));
    }

    /// <summary>A worker with its own tasks directory and a running log agent listening to this manager.</summary>
    public async Task<WorkerNode> AddWorkerAsync(string hostname, string? managerAddress = null)
    {
        var credentials = Issue(hostname);
        var tasks = Directory.CreateDirectory(Path.Combine(_root, hostname, "tasks")).FullName;
        var connection = new FixedManager(managerAddress ?? Port.HostPort);
        var agent = new LogAgent(tasks, new NodeSecurity(credentials), connection, new LogAgentOptions
        {
            PollInterval = TimeSpan.FromMilliseconds(20),
            InitialBackoff = TimeSpan.FromMilliseconds(20),
            MaxBackoff = TimeSpan.FromMilliseconds(200),
        });
        var worker = new WorkerNode(credentials, tasks, agent, connection);
        _workers.Add(worker);
        await Eventually.TrueAsync(() => Broker.IsListening(worker.NodeId), $"worker {hostname} listening for log subscriptions");
        return worker;
    }

    /// <summary>A service with one running task per node named (in that order).</summary>
    public async Task<(Service Service, List<SwarmTask> Tasks)> CreateServiceAsync(string name, params string[] nodeIds)
    {
        var service = Objects.Service(name, replicas: nodeIds.Length);
        var tasks = nodeIds.Select((node, i) => Objects.Task(service, slot: i + 1, nodeId: node, state: TaskState.Running)).ToList();
        await Store.CreateAsync([service, .. tasks]);
        return (service, tasks);
    }

    /// <summary>
    /// A follower's cluster port: it serves the log broker's methods by relaying them to this (the leader's) port,
    /// over one channel with a manager certificate of its own.
    /// </summary>
    public async Task<ClusterPortServer> StartFollowerAsync()
    {
        var credentials = Issue("manager-2", NodeRole.Manager);
        var toLeader = ClusterChannels.Create(Port.HostPort, new NodeSecurity(credentials));
        _disposables.Add(toLeader);
        var follower = await ClusterPortServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), new NodeSecurity(credentials), new StoreRemovedNodes(Store), p =>
        {
            p.Services.AddSingleton(Store);
            p.UseLeaderRoute(new RelayTo(new LeaderRoute.Relay(toLeader.CreateCallInvoker(), Port.HostPort)));
            p.MapLogBroker();
        });
        _followers.Add(follower);
        return follower;
    }

    public GrpcChannel Channel(NodeCredentials credentials) => ClusterChannels.Create(Port.HostPort, new NodeSecurity(credentials));

    public ClientStream Subscribe(SubscribeLogsRequest request, CancellationToken cancellationToken = default) => new(Broker, request, cancellationToken);

    public static SubscribeLogsRequest ForServices(bool follow = false, params string[] serviceIds)
    {
        var request = new SubscribeLogsRequest { Selector = new LogSelector(), Options = new LogSubscriptionOptions { Follow = follow, Tail = -1 } };
        request.Selector.ServiceIds.AddRange(serviceIds);
        return request;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        foreach (var follower in _followers)
        {
            await follower.DisposeAsync();
        }

        foreach (var disposable in _disposables)
        {
            disposable.Dispose();
        }

        await _leading.CancelAsync();
        try
        {
            await _run;
        }
        catch (OperationCanceledException)
        {
        }

        await Port.DisposeAsync();
        Store.Dispose();
        _leading.Dispose();
        Directory.Delete(_root, recursive: true);
    }
}

/// <summary>The control API's <c>SubscribeLogs</c> wired to the broker as the control API server does it.</summary>
internal sealed class ControlWithLogs(Manager.LogBroker.LogBroker broker) : Control.ControlBase
{
    public override Task SubscribeLogs(SubscribeLogsRequest request, Grpc.Core.IServerStreamWriter<SubscribeLogsMessage> responseStream, Grpc.Core.ServerCallContext context) =>
        broker.SubscribeAsync(request, responseStream, context);
}

/// <summary>A follower's route: every leader-only call goes to the one leader.</summary>
internal sealed class RelayTo(LeaderRoute route) : ILeaderRoute
{
    public LeaderRoute Current { get; } = route;
}

/// <summary>A node's session that stays with one manager until moved.</summary>
internal sealed class FixedManager(string address) : IManagerConnection
{
    public string? ManagerAddress { get; set; } = address;

    public event EventHandler<SessionEstablishedEventArgs>? SessionEstablished;

    public void Move(string address)
    {
        ManagerAddress = address;
        SessionEstablished?.Invoke(this, new SessionEstablishedEventArgs(address, Identity.NewId()));
    }
}

/// <summary>A worker node: its credentials, its tasks directory and its log agent running in the background.</summary>
internal sealed class WorkerNode : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private long _clock = 1_765_000_000_000_000;

    public WorkerNode(NodeCredentials credentials, string tasksDirectory, LogAgent agent, FixedManager connection)
    {
        Connection = connection;
        Credentials = credentials;
        TasksDirectory = tasksDirectory;
        Agent = agent;
        _run = agent.RunAsync(_stop.Token);
    }

    public NodeCredentials Credentials { get; }

    /// <summary>The node's session, to move it to another manager.</summary>
    public FixedManager Connection { get; }

    public string NodeId => Credentials.NodeId;

    public string TasksDirectory { get; }

    public LogAgent Agent { get; }

    /// <summary>Appends lines to a task's log file as the executor does, each one microsecond after the previous one.</summary>
    public List<DateTimeOffset> Write(string taskId, LogStream stream, params string[] lines)
    {
        var directory = Directory.CreateDirectory(Path.Combine(TasksDirectory, taskId)).FullName;
        var stamps = new List<DateTimeOffset>();
        var text = new System.Text.StringBuilder();
        foreach (var line in lines)
        {
            var micros = Interlocked.Increment(ref _clock);
            stamps.Add(DateTimeOffset.UnixEpoch.AddTicks(micros * 10));
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{micros / 1_000_000}.{micros % 1_000_000:000000} {line}\n");
        }

        File.AppendAllText(Path.Combine(directory, stream == LogStream.Stderr ? "stderr.log" : "stdout.log"), text.ToString());
        return stamps;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run;
        _stop.Dispose();
    }
}

/// <summary>A client's subscription: collects every line the broker streams.</summary>
internal sealed class ClientStream
{
    private readonly Channel<LogMessage> _lines = Channel.CreateUnbounded<LogMessage>();

    public ClientStream(Manager.LogBroker.LogBroker broker, SubscribeLogsRequest request, CancellationToken cancellationToken)
    {
        Completion = broker.SubscribeAsync(request, (message, _) =>
        {
            BatchSizes.Add(message.Messages.Count);
            foreach (var line in message.Messages)
            {
                _lines.Writer.TryWrite(line);
            }

            return Task.CompletedTask;
        }, null, cancellationToken);
    }

    /// <summary>Lines in each message the broker sent.</summary>
    public System.Collections.Concurrent.ConcurrentBag<int> BatchSizes { get; } = [];

    /// <summary>Completes when the broker ended the stream.</summary>
    public Task Completion { get; }

    /// <summary>The next <paramref name="count"/> lines, waiting for them up to 10 s.</summary>
    public async Task<List<LogMessage>> TakeAsync(int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var lines = new List<LogMessage>();
        try
        {
            while (lines.Count < count)
            {
                lines.Add(await _lines.Reader.ReadAsync(timeout.Token));
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"timed out after 10 s waiting for {count} log lines; got {lines.Count}: {string.Join(", ", lines.Select(l => l.Data.ToStringUtf8()))}");
        }

        return lines;
    }

    /// <summary>Every line, once the broker ended the stream (within 10 s).</summary>
    public async Task<List<LogMessage>> ToEndAsync()
    {
        await Completion.WaitAsync(TimeSpan.FromSeconds(10));
        var lines = new List<LogMessage>();
        while (_lines.Reader.TryRead(out var line))
        {
            lines.Add(line);
        }

        return lines;
    }
}
