using FsCheck;
using FsCheck.Fluent;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Shoal.Api;
using Shoal.Ca.Client;
using Shoal.Ca.Tests.Probe;
using Shoal.TestKit;

namespace Shoal.Ca.Tests;

/// <summary>Certificate renewal against a real manager port.</summary>
public sealed class RenewalTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("shoal-renew-").FullName;

    private CertificateDirectory Certificates => new(Path.Combine(_dataDir, "certificates"));

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    [Fact]
    public async Task ARenewal_ReplacesTheCertificate_WhileAStreamOpenedBeforeStaysOpen()
    {
        await using var port = await ManagerPort.StartAsync();
        var joined = await new JoinClient().JoinAsync(port.HostPort, port.WorkerToken.Value, Certificates);
        var security = new NodeSecurity(joined);
        using var channel = ClusterChannels.Create(port.HostPort, security);
        var probe = new Probe.Probe.ProbeClient(channel);
        using var stream = probe.Ticks(new Empty());
        Assert.True(await stream.ResponseStream.MoveNext());
        var before = stream.ResponseStream.Current.CertificateSerial;
        var renewer = new CertificateRenewer(security, Certificates, () => channel.CreateCallInvoker());

        var renewed = await renewer.RenewAsync();

        Assert.Equal(joined.NodeId, renewed.NodeId);
        Assert.NotEqual(joined.Certificate.SerialNumber, renewed.Certificate.SerialNumber);
        Assert.Same(renewed, security.Current);
        using (var onDisk = Certificates.Load())
        {
            Assert.Equal(renewed.Certificate.Thumbprint, onDisk!.Certificate.Thumbprint);
        }

        // The stream opened before the renewal still delivers, on the connection made with the old certificate.
        await port.Probe.Ticks.Writer.WriteAsync(7);
        Assert.True(await stream.ResponseStream.MoveNext());
        Assert.Equal(7, stream.ResponseStream.Current.Sequence);
        Assert.Equal(before, stream.ResponseStream.Current.CertificateSerial);
        // A new connection presents the renewed certificate.
        using var fresh = ClusterChannels.Create(port.HostPort, security);
        Assert.Equal(renewed.Certificate.SerialNumber, (await new Probe.Probe.ProbeClient(fresh).AnyMemberAsync(new Empty())).CertificateSerial);
    }

    [Fact]
    public async Task ARenewalAfterAPromotion_IssuesAManagerCertificate()
    {
        await using var port = await ManagerPort.StartAsync();
        var joined = await new JoinClient().JoinAsync(port.HostPort, port.WorkerToken.Value, Certificates);
        var security = new NodeSecurity(joined);
        using var channel = ClusterChannels.Create(port.HostPort, security);
        await port.Store.UpdateAsync(tx =>
        {
            var node = tx.Nodes.Get(joined.NodeId)!.Clone();
            node.Role = NodeRole.Manager;
            tx.Update(node);
        });

        var renewed = await new CertificateRenewer(security, Certificates, () => channel.CreateCallInvoker()).RenewAsync();

        Assert.Equal(NodeRole.Manager, renewed.Role);
        using var fresh = ClusterChannels.Create(port.HostPort, security);
        Assert.Equal(Roles.Manager, (await new Probe.Probe.ProbeClient(fresh).ManagerOnlyAsync(new Empty())).Role);
    }

    [Fact]
    public async Task ARemovedNode_CannotRenew()
    {
        await using var port = await ManagerPort.StartAsync();
        var joined = await new JoinClient().JoinAsync(port.HostPort, port.WorkerToken.Value, Certificates);
        var security = new NodeSecurity(joined);
        using var channel = ClusterChannels.Create(port.HostPort, security);
        await new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty()); // a connection is open
        await ClusterSecurity.RefuseNodeAsync(port.Store, joined.NodeId, joined.NotAfter);

        var e = await Assert.ThrowsAsync<RpcException>(() => new CertificateRenewer(security, Certificates, () => channel.CreateCallInvoker()).RenewAsync());

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Same(joined, security.Current);
    }

    [Fact]
    public async Task TheRenewer_RenewsWhenDue_AndNotBefore()
    {
        await using var port = await ManagerPort.StartAsync();
        var joined = await new JoinClient().JoinAsync(port.HostPort, port.WorkerToken.Value, Certificates);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var security = new NodeSecurity(joined, clock);
        using var channel = ClusterChannels.Create(port.HostPort, security);
        var draw = new Random(42);
        var due = CertificateRenewer.RenewalTime(joined, new Random(42).NextDouble());
        var renewer = new CertificateRenewer(security, Certificates, () => channel.CreateCallInvoker(), draw);
        using var stop = new CancellationTokenSource();
        var running = renewer.RunAsync(stop.Token);

        await Task.Delay(100);
        Assert.False(running.IsCompleted, running.Exception?.ToString());
        clock.Advance(due - clock.GetUtcNow() - TimeSpan.FromMinutes(1));
        await Task.Delay(200);
        Assert.Same(joined, security.Current);
        clock.Advance(TimeSpan.FromMinutes(2));
        await Eventually.TrueAsync(() => !ReferenceEquals(joined, security.Current), "the certificate was renewed once due");

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
    }

    [Fact]
    public async Task RenewSoon_WakesTheRenewerAtOnce()
    {
        await using var port = await ManagerPort.StartAsync();
        var joined = await new JoinClient().JoinAsync(port.HostPort, port.WorkerToken.Value, Certificates);
        var security = new NodeSecurity(joined, new FakeTimeProvider(DateTimeOffset.UtcNow));
        using var channel = ClusterChannels.Create(port.HostPort, security);
        var renewer = new CertificateRenewer(security, Certificates, () => channel.CreateCallInvoker());
        using var stop = new CancellationTokenSource();
        var running = renewer.RunAsync(stop.Token);

        renewer.RenewSoon();

        await Eventually.TrueAsync(() => !ReferenceEquals(joined, security.Current), "the certificate was renewed when asked");
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
    }

    [Fact]
    public async Task RenewalTimes_FallBetweenHalfAndFourFifthsOfTheValidity()
    {
        await using var port = await ManagerPort.StartAsync();
        var credentials = port.Issue(NodeRole.Worker);
        var lifetime = credentials.NotAfter - credentials.NotBefore;

        Prop.ForAll(Gen.Choose(0, 999_999).Select(i => i / 1_000_000.0).ToArbitrary(), unit =>
        {
            var at = CertificateRenewer.RenewalTime(credentials, unit);
            return at >= credentials.NotBefore + (lifetime * 0.5) && at <= credentials.NotBefore + (lifetime * 0.8);
        }).QuickCheckThrowOnFailure();
        // And they spread: a thousand nodes do not pick a handful of moments.
        var random = new Random(1);
        var distinct = Enumerable.Range(0, 1000).Select(_ => CertificateRenewer.RenewalTime(credentials, random.NextDouble())).Distinct().Count();
        Assert.True(distinct > 990, $"only {distinct} distinct renewal times for 1000 draws");
    }
}
