using System.Net;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.Ca.Server;
using Shoal.Store;

namespace Shoal.Benchmarks;

/// <summary>
/// The cost of the cluster port's mutual TLS, over loopback against a real <see cref="ClusterPortServer"/> serving the
/// CA: a first call on a new channel (TCP connect, TLS handshake, HTTP/2 setup, call, dispose), with a worker's client
/// certificate and without one (the join bootstrap), against one call on a warm mutual-TLS channel (the baseline).
/// The worker's certificate is signed directly with the root CA, as the CA would issue it on join.
/// </summary>
[Config(typeof(StoreBenchConfig))]
[MemoryDiagnoser]
public class ClusterTlsBenchmarks : IAsyncDisposable
{
    private MemoryStore _store = null!;
    private NodeCredentials _managerCredentials = null!;
    private NodeCredentials _workerCredentials = null!;
    private NodeSecurity _workerSecurity = null!;
    private X509Certificate2 _pinnedRootCa = null!;
    private ClusterPortServer _server = null!;
    private GrpcChannel _warmChannel = null!;
    private NodeCA.NodeCAClient _warmClient = null!;
    private NodeCertificateStatusRequest _statusRequest = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _store = new MemoryStore();
        _managerCredentials = await ClusterSecurity.InitializeAsync(_store, TimeProvider.System);
        var managerSecurity = new NodeSecurity(_managerCredentials);
        _server = await ClusterPortServer.StartAsync(
            new IPEndPoint(IPAddress.Loopback, 0),
            managerSecurity,
            new StoreRemovedNodes(_store),
            port =>
            {
                port.Services.AddSingleton(_store);
                port.Services.AddSingleton(TimeProvider.System);
                port.MapCertificateAuthority();
            });

        // A worker, issued the way the CA issues on join: its own key, a CSR, signed by the root CA, and its node in
        // the store (NodeCertificateStatus does not need it, but a real worker has one).
        var cluster = ClusterSecurity.FindCluster(_store.View()) ?? throw new InvalidOperationException("no cluster after init");
        using (var ca = RootCertificateAuthority.FromCluster(cluster.RootCa))
        using (var key = NodeKeys.Create())
        {
            var csr = NodeKeys.CreateSigningRequest(key);
            var workerId = Identity.NewId();
            using var certificate = ca.SignNodeCertificate(csr, workerId, NodeRole.Worker, cluster.Id, TimeSpan.FromDays(90), DateTimeOffset.UtcNow);
            _workerCredentials = NodeCredentials.Create(certificate, key, X509Certificate2.CreateFromPem(ca.CertificatePem));
            var pem = _workerCredentials.CertificatePem;
            await _store.UpdateAsync(tx => tx.Create(ClusterSecurity.NewNode(workerId, NodeRole.Worker, pem, csr)));
            _pinnedRootCa = X509Certificate2.CreateFromPem(ca.CertificatePem);
        }

        _workerSecurity = new NodeSecurity(_workerCredentials);
        _statusRequest = new NodeCertificateStatusRequest { NodeId = _managerCredentials.NodeId };

        _warmChannel = ClusterChannels.Create(_server.HostPort, _workerSecurity);
        _warmClient = new NodeCA.NodeCAClient(_warmChannel);
        var warm = await _warmClient.NodeCertificateStatusAsync(_statusRequest);
        if (warm.Status.State != IssuanceState.Issued)
        {
            throw new InvalidOperationException($"the manager's certificate status is {warm.Status.State}, expected Issued");
        }
    }

    [GlobalCleanup]
    public Task CleanupAsync() => DisposeAsync().AsTask();

    /// <summary>Stops the port and disposes the channel, the store and the certificates (BenchmarkDotNet calls it
    /// through <see cref="CleanupAsync"/>).</summary>
    public async ValueTask DisposeAsync()
    {
        _warmChannel.Dispose();
        await _server.DisposeAsync();
        _store.Dispose();
        _pinnedRootCa.Dispose();
        _workerCredentials.Dispose();
        _managerCredentials.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>A new mutually authenticated channel, one call, dispose: TCP connect, TLS handshake with the worker's
    /// client certificate (validated on both sides against the root CA), HTTP/2 setup and the call.</summary>
    [Benchmark]
    public async Task FirstCall_NewChannel_MutualTls()
    {
        using var channel = ClusterChannels.Create(_server.HostPort, _workerSecurity);
        await new NodeCA.NodeCAClient(channel).NodeCertificateStatusAsync(_statusRequest);
    }

    /// <summary>The same on a join bootstrap channel: server authentication only (pinned root), no client
    /// certificate, one <c>GetRootCACertificate</c>.</summary>
    [Benchmark]
    public async Task FirstCall_NewChannel_BootstrapTls()
    {
        using var channel = ClusterChannels.CreateBootstrap(_server.HostPort, _pinnedRootCa, TimeProvider.System);
        await new CA.CAClient(channel).GetRootCACertificateAsync(new GetRootCACertificateRequest());
    }

    /// <summary>One call on a mutual-TLS channel connected and warmed in setup: the per-call cost once connected.</summary>
    [Benchmark(Baseline = true)]
    public async Task Call_WarmChannel_MutualTls() => await _warmClient.NodeCertificateStatusAsync(_statusRequest);
}
