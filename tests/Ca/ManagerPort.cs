using System.Net;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca.Authorization;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.Ca.Server;
using Shoal.Ca.Tests.Probe;
using Shoal.Store;

namespace Shoal.Ca.Tests;

/// <summary>
/// A manager's cluster port for tests: a real store with a swarm initialized in it, the real Kestrel listener with
/// mutual TLS on loopback, the CA services and a probe service that echoes who the interceptor says called.
/// </summary>
internal sealed class ManagerPort : IAsyncDisposable
{
    private ManagerPort(MemoryStore store, NodeSecurity security, ClusterPortServer server, ProbeState probe, TimeProvider time)
    {
        Store = store;
        Security = security;
        Server = server;
        Probe = probe;
        Time = time;
    }

    public MemoryStore Store { get; }

    public NodeSecurity Security { get; }

    public ClusterPortServer Server { get; }

    public ProbeState Probe { get; }

    public TimeProvider Time { get; }

    public string HostPort => Server.HostPort;

    public Cluster Cluster => ClusterSecurity.FindCluster(Store.View())!;

    public JoinToken WorkerToken => JoinToken.Parse(Cluster.RootCa.JoinTokens.Worker);

    public JoinToken ManagerToken => JoinToken.Parse(Cluster.RootCa.JoinTokens.Manager);

    public static async Task<ManagerPort> StartAsync(ILoggerFactory? logs = null, TimeProvider? time = null, NodeCredentials? serveAs = null, Shoal.Ca.Forwarding.ILeaderRoute? route = null)
    {
        time ??= TimeProvider.System;
        var store = new MemoryStore();
        var credentials = await ClusterSecurity.InitializeAsync(store, time);
        var security = new NodeSecurity(serveAs ?? credentials, time);
        var probe = new ProbeState();
        var server = await ClusterPortServer.StartAsync(
            new IPEndPoint(IPAddress.Loopback, 0),
            security,
            new StoreRemovedNodes(store),
            port =>
            {
                port.Services.AddSingleton(store);
                port.Services.AddSingleton(time);
                port.Services.AddSingleton(probe);
                port.MapCertificateAuthority();
                port.MapService<ProbeService>(Shoal.Ca.Tests.Probe.Probe.Descriptor);
                if (route is not null)
                {
                    port.UseLeaderRoute(route);
                }
            },
            logs);
        return new ManagerPort(store, security, server, probe, time);
    }

    /// <summary>
    /// A certificate signed directly by this swarm's root CA (bypassing the join), for a node recorded in the store
    /// unless <paramref name="record"/> is false.
    /// </summary>
    public NodeCredentials Issue(NodeRole role, TimeSpan? validity = null, DateTimeOffset? at = null, string? clusterId = null, bool record = true)
    {
        using var ca = RootCertificateAuthority.FromCluster(Cluster.RootCa);
        return IssueWith(ca, role, clusterId ?? Cluster.Id, validity, at ?? Time.GetUtcNow(), record ? Store : null);
    }

    public static NodeCredentials IssueWith(RootCertificateAuthority ca, NodeRole role, string clusterId, TimeSpan? validity, DateTimeOffset at, MemoryStore? recordIn)
    {
        using var key = NodeKeys.Create();
        var nodeId = Identity.NewId();
        using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), nodeId, role, clusterId, validity ?? TimeSpan.FromDays(90), at);
        if (recordIn is not null)
        {
            recordIn.UpdateAsync(tx => tx.Create(ClusterSecurity.NewNode(nodeId, role, certificate.ExportCertificatePem(), []))).AsTask().GetAwaiter().GetResult();
        }

        return NodeCredentials.Create(certificate, key, System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(ca.CertificatePem));
    }

    public GrpcChannel Channel(NodeCredentials credentials) => ClusterChannels.Create(HostPort, new NodeSecurity(credentials, Time));

    public GrpcChannel Channel(NodeSecurity security) => ClusterChannels.Create(HostPort, security);

    public GrpcChannel BootstrapChannel() =>
        ClusterChannels.CreateBootstrap(HostPort, System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(Cluster.RootCa.CaCert.ToStringUtf8()), Time);

    public async ValueTask DisposeAsync()
    {
        Probe.Ticks.Writer.TryComplete();
        await Server.DisposeAsync();
        Store.Dispose();
    }
}

/// <summary>What the probe service saw.</summary>
internal sealed class ProbeState
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public Channel<long> Ticks { get; } = Channel.CreateUnbounded<long>();

    public void Called() => Interlocked.Increment(ref _calls);
}

internal sealed class ProbeService(ProbeState state) : Shoal.Ca.Tests.Probe.Probe.ProbeBase
{
    public override Task<Caller> ManagerOnly(Empty request, ServerCallContext context) => Task.FromResult(Echo(context, 0));

    public override Task<Caller> AnyMember(Empty request, ServerCallContext context) => Task.FromResult(Echo(context, 0));

    public override Task<Caller> Undeclared(Empty request, ServerCallContext context) => Task.FromResult(Echo(context, 0));

    public override Task<Caller> Relayed(Empty request, ServerCallContext context) => Task.FromResult(Echo(context, 0));

    public override async Task RelayedTicks(Empty request, IServerStreamWriter<Caller> responseStream, ServerCallContext context)
    {
        for (var i = 1; i <= 3; i++)
        {
            await responseStream.WriteAsync(Echo(context, i));
        }
    }

    public override async Task Ticks(Empty request, IServerStreamWriter<Caller> responseStream, ServerCallContext context)
    {
        await responseStream.WriteAsync(Echo(context, 0));
        await foreach (var tick in state.Ticks.Reader.ReadAllAsync(context.CancellationToken))
        {
            await responseStream.WriteAsync(Echo(context, tick));
        }
    }

    private Caller Echo(ServerCallContext context, long sequence)
    {
        state.Called();
        var caller = context.GetCaller();
        return new Caller
        {
            NodeId = caller?.NodeId ?? string.Empty,
            Role = caller?.RoleName ?? string.Empty,
            CertificateSerial = context.GetHttpContext().Connection.ClientCertificate?.SerialNumber ?? string.Empty,
            Sequence = sequence,
            Address = context.GetCallerAddress(),
        };
    }
}
