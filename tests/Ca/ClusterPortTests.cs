using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Shoal.Api;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.Ca.Tls;
using Grpc.Net.Client;
using Shoal.Ca.Tests.Probe;

namespace Shoal.Ca.Tests;

/// <summary>The cluster port on real Kestrel with real TLS on loopback: who gets in, who is refused, and why.</summary>
public sealed class ClusterPortTests
{
    [Fact]
    public async Task WorkerCertificate_CallingAManagerOnlyMethod_IsPermissionDenied()
    {
        await using var port = await ManagerPort.StartAsync();
        using var channel = port.Channel(port.Issue(NodeRole.Worker));

        var e = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).ManagerOnlyAsync(new Empty()).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("not open to swarm-worker nodes", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(0, port.Probe.Calls);
    }

    [Fact]
    public async Task ManagerCertificate_CallingAManagerOnlyMethod_ReachesTheHandlerWithItsIdentity()
    {
        await using var port = await ManagerPort.StartAsync();
        var manager = port.Issue(NodeRole.Manager);
        using var channel = port.Channel(manager);

        var caller = await new Probe.Probe.ProbeClient(channel).ManagerOnlyAsync(new Empty());

        Assert.Equal(manager.NodeId, caller.NodeId);
        Assert.Equal(Roles.Manager, caller.Role);
        Assert.Equal(manager.Certificate.SerialNumber, caller.CertificateSerial);
    }

    [Fact]
    public async Task WorkerCertificate_CallingAMethodOpenToWorkers_ReachesTheHandlerWithItsIdentity()
    {
        await using var port = await ManagerPort.StartAsync();
        var worker = port.Issue(NodeRole.Worker);
        using var channel = port.Channel(worker);

        var caller = await new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty());

        Assert.Equal(worker.NodeId, caller.NodeId);
        Assert.Equal(Roles.Worker, caller.Role);
    }

    [Fact]
    public async Task AMethodThatDeclaresNoRoles_IsRefusedEvenToManagers()
    {
        await using var port = await ManagerPort.StartAsync();
        using var channel = port.Channel(port.Issue(NodeRole.Manager));

        var e = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).UndeclaredAsync(new Empty()).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Equal(0, port.Probe.Calls);
    }

    [Fact]
    public async Task NoCertificate_OnAMethodThatIsNotBootstrap_IsUnauthenticated()
    {
        await using var port = await ManagerPort.StartAsync();
        using var channel = port.BootstrapChannel();

        var e = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty()).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains("client certificate", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(0, port.Probe.Calls);
    }

    [Fact]
    public async Task NoCertificate_OnABootstrapMethod_IsServed()
    {
        await using var port = await ManagerPort.StartAsync();
        using var channel = port.BootstrapChannel();

        var response = await new CA.CAClient(channel).GetRootCACertificateAsync(new GetRootCACertificateRequest());

        Assert.Equal(port.Cluster.RootCa.CaCert, response.Certificate);
    }

    [Fact]
    public async Task ACertificateFromAnotherCa_IsRefusedAtTheHandshake()
    {
        await using var port = await ManagerPort.StartAsync();
        using var otherCa = RootCertificateAuthority.Create(DateTimeOffset.UtcNow);
        // Same cluster ID, same role: only the signer differs.
        var impostor = ManagerPort.IssueWith(otherCa, NodeRole.Manager, port.Cluster.Id, null, DateTimeOffset.UtcNow, recordIn: null);
        using var channel = ClusterChannels.Create(port.HostPort, new NodeSecurity(WithRoot(impostor, port), port.Time));

        var e = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty()).ResponseAsync);

        Assert.NotEqual(StatusCode.OK, e.StatusCode);
        Assert.NotEqual(StatusCode.PermissionDenied, e.StatusCode); // it never got as far as a call
        Assert.Equal(0, port.Probe.Calls);
    }

    [Fact]
    public async Task AnExpiredCertificate_IsRefused()
    {
        // The swarm was made three hours ago and issued a one-hour certificate then; the manager's clock is now.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(-3));
        await using var port = await ManagerPort.StartAsync(time: clock);
        var expired = port.Issue(NodeRole.Manager, validity: TimeSpan.FromHours(1));
        clock.Advance(TimeSpan.FromHours(3));
        Assert.True(expired.NotAfter < clock.GetUtcNow());
        using var channel = port.Channel(expired);

        var e = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty()).ResponseAsync);

        Assert.NotEqual(StatusCode.OK, e.StatusCode);
        Assert.Equal(0, port.Probe.Calls);
    }

    [Fact]
    public async Task ARemovedNodesCertificate_IsRefused_EvenOnAConnectionOpenedBefore()
    {
        await using var port = await ManagerPort.StartAsync();
        var worker = port.Issue(NodeRole.Worker);
        using var channel = port.Channel(worker);
        var client = new Probe.Probe.ProbeClient(channel);
        await client.AnyMemberAsync(new Empty());

        await ClusterSecurity.RefuseNodeAsync(port.Store, worker.NodeId, worker.NotAfter);
        var onOpenConnection = await Assert.ThrowsAsync<RpcException>(() => client.AnyMemberAsync(new Empty()).ResponseAsync);
        using var fresh = port.Channel(worker);
        var onNewConnection = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(fresh).AnyMemberAsync(new Empty()).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, onOpenConnection.StatusCode);
        Assert.Contains("was removed from the swarm", onOpenConnection.Status.Detail, StringComparison.Ordinal);
        Assert.NotEqual(StatusCode.OK, onNewConnection.StatusCode);
        Assert.Equal(1, port.Probe.Calls);
    }

    [Fact]
    public async Task ACertificateOfOurCaForAnotherClusterId_IsRefused()
    {
        await using var port = await ManagerPort.StartAsync();
        var stranger = port.Issue(NodeRole.Manager, clusterId: "someothercluster", record: false);
        // The client side accepts the port's manager, so that only the server's check can refuse.
        var ssl = ClusterTls.ClientOptions(new NodeSecurity(stranger), () => stranger.RootCa, port.Cluster.Id, TimeProvider.System);
        using var channel = GrpcChannel.ForAddress($"https://{port.HostPort}", new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { SslOptions = ssl } });

        var e = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty()).ResponseAsync);

        Assert.NotEqual(StatusCode.OK, e.StatusCode);
        Assert.Equal(0, port.Probe.Calls);
    }

    [Fact]
    public async Task AClient_RefusesAServerWhoseCertificateIsNotAManagers()
    {
        // A worker's certificate, valid and of our CA, serving the port: clients must not take it for a manager.
        await using var port = await ManagerPort.StartAsync();
        var worker = port.Issue(NodeRole.Worker);
        await using var fake = await ManagerPort.StartAsync(serveAs: WithRoot(worker, port));
        using var channel = ClusterChannels.Create(fake.HostPort, new NodeSecurity(port.Issue(NodeRole.Worker), port.Time));

        var e = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty()).ResponseAsync);

        Assert.True(IsTlsFailure(e), e.ToString());
        Assert.Equal(0, fake.Probe.Calls);
    }

    [Fact]
    public async Task AClient_RefusesAManagerOfAnotherSwarm()
    {
        await using var ours = await ManagerPort.StartAsync();
        await using var theirs = await ManagerPort.StartAsync();
        using var channel = ClusterChannels.Create(theirs.HostPort, new NodeSecurity(ours.Issue(NodeRole.Manager), ours.Time));

        var e = await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty()).ResponseAsync);

        Assert.True(IsTlsFailure(e), e.ToString());
        Assert.Equal(0, theirs.Probe.Calls);
    }

    [Fact]
    public async Task TheServerCertificate_IsReplacedForNewConnections_WithoutRestartingTheListener()
    {
        await using var port = await ManagerPort.StartAsync();
        var worker = port.Issue(NodeRole.Worker);
        using var before = port.Channel(worker);
        await new Probe.Probe.ProbeClient(before).AnyMemberAsync(new Empty());
        var first = await ServerCertificateSerialAsync(port);

        port.Security.Replace(Reissue(port, port.Security.Current));
        var second = await ServerCertificateSerialAsync(port);

        Assert.NotEqual(first, second);
        Assert.Equal(port.Security.Current.Certificate.SerialNumber, second);
        // The connection made before the swap goes on.
        await new Probe.Probe.ProbeClient(before).AnyMemberAsync(new Empty());
    }

    [Fact]
    public async Task TheListener_OffersOnlyTls12AndAbove()
    {
        await using var port = await ManagerPort.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(port.Server.Address.Host, port.Server.Address.Port);
        using var ssl = new SslStream(tcp.GetStream());

        var e = await Record.ExceptionAsync(() => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = Roles.Manager,
#pragma warning disable SYSLIB0039, CA5397, CA5359 // deliberately old, and any server: the server must refuse the version
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls11,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore SYSLIB0039, CA5397, CA5359
        }));

        Assert.NotNull(e);
    }

    /// <summary>The call failed because the client refused the server's certificate during the TLS handshake.</summary>
    internal static bool IsTlsFailure(RpcException e)
    {
        for (Exception? inner = e.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Security.Authentication.AuthenticationException)
            {
                return true;
            }
        }

        return false;
    }

    internal static NodeCredentials Reissue(ManagerPort port, NodeCredentials current)
    {
        using var ca = RootCertificateAuthority.FromCluster(port.Cluster.RootCa);
        using var key = NodeKeys.Create();
        using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), current.NodeId, current.Role, current.ClusterId, TimeSpan.FromDays(90), DateTimeOffset.UtcNow);
        return NodeCredentials.Create(certificate, key, X509Certificate2.CreateFromPem(ca.CertificatePem));
    }

    private static NodeCredentials WithRoot(NodeCredentials credentials, ManagerPort port)
    {
        // Present the certificate as it is, but trust the port's root for the server side of the check.
        using var key = credentials.Certificate.GetECDsaPrivateKey()!;
        using var publicOnly = X509CertificateLoader.LoadCertificate(credentials.Certificate.RawData);
        try
        {
            return NodeCredentials.Create(publicOnly, key, X509Certificate2.CreateFromPem(port.Cluster.RootCa.CaCert.ToStringUtf8()));
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            // A certificate of another CA cannot be loaded with our root: keep it with its own root, the client
            // only needs it to present.
            return credentials;
        }
    }

    private static async Task<string> ServerCertificateSerialAsync(ManagerPort port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(port.Server.Address.Host, port.Server.Address.Port);
        using var ssl = new SslStream(tcp.GetStream());
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = Roles.Manager,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
#pragma warning disable CA5359 // the test only reads which certificate the server presents
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
        });
        return new X509Certificate2(ssl.RemoteCertificate!).SerialNumber;
    }
}
