using System.Net;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Shoal.Agent;
using Shoal.Api;
using Shoal.Api.Defaults;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.Manager.Dispatcher;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Dispatching;

/// <summary>
/// Managers' cluster ports sharing one Raft-less store (as replicated managers share one state), each serving the
/// dispatcher over real mutual TLS on loopback. A dispatcher is started and stopped as leadership would start and
/// stop it. Node certificates are minted by the swarm's own root CA.
/// </summary>
internal sealed class DispatcherHarness : IAsyncDisposable
{
    private DispatcherHarness(MemoryStore store, Cluster cluster, TimeSpan period)
    {
        Store = store;
        Cluster = cluster;
        Period = period;
    }

    public MemoryStore Store { get; }

    public Cluster Cluster { get; }

    public TimeSpan Period { get; }

    public List<ManagerEndpoint> Managers { get; } = [];

    /// <summary>Starts <paramref name="managers"/> ports; the first one's dispatcher runs unless told otherwise.</summary>
    public static async Task<DispatcherHarness> StartAsync(int managers = 1, TimeSpan? period = null, DispatcherOptions? options = null, bool run = true)
    {
        var heartbeat = period ?? TimeSpan.FromMilliseconds(250);
        var store = new MemoryStore();
        var spec = ClusterDefaults.NewClusterSpec();
        spec.Dispatcher.HeartbeatPeriod = Duration.FromTimeSpan(heartbeat);
        var first = await ClusterSecurity.InitializeAsync(store, TimeProvider.System, spec);
        var harness = new DispatcherHarness(store, ClusterSecurity.FindCluster(store.View())!, heartbeat);
        for (var i = 0; i < managers; i++)
        {
            var credentials = i == 0 ? first : harness.Issue(NodeRole.Manager);
            await harness.AddManagerAsync(credentials, options ?? new DispatcherOptions());
        }

        if (run)
        {
            harness.Managers[0].Start();
        }

        return harness;
    }

    private async Task AddManagerAsync(NodeCredentials credentials, DispatcherOptions options)
    {
        var security = new NodeSecurity(credentials);
        var port = await ClusterPortServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), security, new StoreRemovedNodes(Store), p =>
        {
            p.Services.AddSingleton(Store);
            p.Services.AddSingleton(options);
            p.MapDispatcher();
        });
        await Store.UpdateAsync(tx =>
        {
            var node = tx.Nodes.Get(credentials.NodeId)!.Clone();
            node.ManagerStatus = new ManagerStatus { Addr = port.HostPort, RaftId = (ulong)Managers.Count + 1 };
            node.Status = new NodeStatus { State = NodeState.Ready };
            tx.Update(node);
        });
        Managers.Add(new ManagerEndpoint(port, port.Services.GetRequiredService<Manager.Dispatcher.Dispatcher>(), credentials.NodeId));
    }

    /// <summary>A certificate signed by the swarm's root CA for a new node, recorded in the store (as the CA does at join).</summary>
    public NodeCredentials Issue(NodeRole role = NodeRole.Worker, bool record = true)
    {
        using var ca = RootCertificateAuthority.FromCluster(Cluster.RootCa);
        using var key = NodeKeys.Create();
        var nodeId = Identity.NewId();
        using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), nodeId, role, Cluster.Id, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        if (record)
        {
            Store.UpdateAsync(tx => tx.Create(ClusterSecurity.NewNode(nodeId, role, certificate.ExportCertificatePem(), []))).AsTask().GetAwaiter().GetResult();
        }

        return NodeCredentials.Create(certificate, key, X509Certificate2.CreateFromPem(ca.CertificatePem));
    }

    public GrpcChannel Channel(NodeCredentials credentials, int manager = 0) => ClusterChannels.Create(Managers[manager].HostPort, new NodeSecurity(credentials));

    public Shoal.Api.Dispatcher.DispatcherClient Client(GrpcChannel channel) => new(channel);

    /// <summary>An agent that starts from <paramref name="manager"/>'s address.</summary>
    public AgentSession Agent(NodeCredentials credentials, IAssignmentSink? sink = null, int manager = 0, NodeDescriptionProvider? descriptions = null) =>
        new(new NodeSecurity(credentials), new AgentOptions
        {
            Managers = [Managers[manager].HostPort],
            InitialBackoff = TimeSpan.FromMilliseconds(50),
            MaxBackoff = TimeSpan.FromMilliseconds(400),
        }, sink ?? new InMemoryAssignmentSink(), descriptions);

    public Node? Node(string id) => Store.View().Nodes.Get(id);

    public NodeState? StateOf(string id) => Node(id)?.Status?.State;

    public async ValueTask DisposeAsync()
    {
        foreach (var manager in Managers)
        {
            await manager.StopAsync();
            await manager.Port.DisposeAsync();
        }

        Store.Dispose();
    }

    internal sealed class ManagerEndpoint(ClusterPortServer port, Manager.Dispatcher.Dispatcher dispatcher, string nodeId) : IDisposable
    {
        private CancellationTokenSource? _leading;
        private Task? _run;

        public ClusterPortServer Port { get; } = port;

        public Manager.Dispatcher.Dispatcher Dispatcher { get; } = dispatcher;

        public string NodeId { get; } = nodeId;

        public string HostPort => Port.HostPort;

        public void Dispose() => _leading?.Dispose();

        /// <summary>As on gaining leadership.</summary>
        public void Start()
        {
            _leading = new CancellationTokenSource();
            _run = Dispatcher.RunAsync(_leading.Token);
        }

        /// <summary>As on losing leadership.</summary>
        public async Task StopAsync()
        {
            if (_leading is null || _run is null)
            {
                return;
            }

            await _leading.CancelAsync();
            try
            {
                await _run;
            }
            catch (OperationCanceledException)
            {
            }

            _leading.Dispose();
            _leading = null;
            _run = null;
        }
    }
}

/// <summary>An agent running in the background of a test.</summary>
internal sealed class RunningAgent : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;
    private int _disposed;

    public RunningAgent(AgentSession session)
    {
        Session = session;
        _run = session.RunAsync(_stop.Token);
    }

    public AgentSession Session { get; }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await _run;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopAsync();
        Session.Dispose();
        _stop.Dispose();
    }
}
