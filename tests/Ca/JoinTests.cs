using Grpc.Core;
using Shoal.Api;
using Shoal.Ca.Client;
using Shoal.Ca.Tests.Probe;

namespace Shoal.Ca.Tests;

/// <summary>The join bootstrap against a real manager port: tokens admitted, tokens refused, and the CA pinned.</summary>
public sealed class JoinTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("shoal-join-").FullName;

    private CertificateDirectory Certificates => new(Path.Combine(_dataDir, "certificates"));

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    [Fact]
    public async Task AWorkerToken_GivesAWorkerCertificate_WrittenToDisk_AndRecordedInTheStore()
    {
        await using var port = await ManagerPort.StartAsync();
        var steps = new List<string>();

        var credentials = await new JoinClient().JoinAsync(port.HostPort, port.WorkerToken.Value, Certificates, new SyncProgress(steps));

        Assert.Equal(NodeRole.Worker, credentials.Role);
        Assert.Equal(port.Cluster.Id, credentials.ClusterId);
        var node = port.Store.View().Nodes.Get(credentials.NodeId);
        Assert.NotNull(node);
        Assert.Equal(NodeRole.Worker, node.Role);
        Assert.Equal(IssuanceState.Issued, node.Certificate.Status.State);
        Assert.Equal(credentials.CertificatePem, node.Certificate.Certificate_.ToStringUtf8());
        using var loaded = Certificates.Load();
        Assert.NotNull(loaded);
        Assert.Equal(credentials.Certificate.Thumbprint, loaded.Certificate.Thumbprint);
        Assert.Contains(steps, s => s.StartsWith("joined as swarm-worker", StringComparison.Ordinal));

        // From then on the node speaks mutual TLS only, as a worker.
        using var channel = ClusterChannels.Create(port.HostPort, new NodeSecurity(loaded));
        var probe = new Probe.Probe.ProbeClient(channel);
        Assert.Equal(credentials.NodeId, (await probe.AnyMemberAsync(new Empty())).NodeId);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => probe.ManagerOnlyAsync(new Empty()).ResponseAsync)).StatusCode);
    }

    [Fact]
    public async Task AManagerToken_GivesAManagerCertificate()
    {
        await using var port = await ManagerPort.StartAsync();

        var credentials = await new JoinClient().JoinAsync(port.HostPort, port.ManagerToken.Value, Certificates);

        Assert.Equal(NodeRole.Manager, credentials.Role);
        using var channel = ClusterChannels.Create(port.HostPort, new NodeSecurity(credentials));
        Assert.Equal(Roles.Manager, (await new Probe.Probe.ProbeClient(channel).ManagerOnlyAsync(new Empty())).Role);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task TheKeyFile_IsReadableByItsOwnerOnly_AndTheDirectoryByItsOwnerOnly()
    {
        await using var port = await ManagerPort.StartAsync();

        await new JoinClient().JoinAsync(port.HostPort, port.WorkerToken.Value, Certificates);

        var dir = Certificates.Path;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, CertificateDirectory.KeyFile)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir));
        Assert.Equal(
            [CertificateDirectory.CertificateFile, CertificateDirectory.KeyFile, CertificateDirectory.RootCaFile],
            Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task AWrongSecret_IsRefused_WithAClearMessage()
    {
        await using var port = await ManagerPort.StartAsync();
        var forged = port.WorkerToken.Value[..^25] + new string('a', 25);

        var e = await Assert.ThrowsAsync<JoinException>(() => new JoinClient().JoinAsync(port.HostPort, forged, Certificates));

        Assert.Contains("not valid for this swarm", e.Message, StringComparison.Ordinal);
        Assert.Contains("shoal swarm join-token", e.Message, StringComparison.Ordinal);
        Assert.False(Certificates.Exists);
        Assert.Equal(1, port.Store.View().Nodes.Count); // only the first manager
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("hello", "not a join token")]
    [InlineData("SWMTKN-2-1-abc-def", "unsupported version")]
    [InlineData("SWMTKN-1-abc-def", "malformed")]
    public async Task AMalformedToken_IsRefusedBeforeDialingAnything(string token, string expected)
    {
        // Port 1 on loopback: nothing listens, so any attempt to dial would fail differently.
        var e = await Assert.ThrowsAsync<JoinException>(() => new JoinClient().JoinAsync("127.0.0.1:1", token, Certificates));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("cannot reach", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARotatedToken_StopsAdmittingAtOnce_TheNewOneAdmits_AndNodesThatJoinedKeepWorking()
    {
        await using var port = await ManagerPort.StartAsync();
        var old = port.WorkerToken;
        var joined = await new JoinClient().JoinAsync(port.HostPort, old.Value, new CertificateDirectory(Path.Combine(_dataDir, "a")));

        var rotated = await ClusterSecurity.RotateJoinTokenAsync(port.Store, NodeRole.Worker);

        Assert.NotEqual(old.Value, rotated.Value);
        Assert.Equal(old.CaDigest, rotated.CaDigest);
        var e = await Assert.ThrowsAsync<JoinException>(() => new JoinClient().JoinAsync(port.HostPort, old.Value, new CertificateDirectory(Path.Combine(_dataDir, "b"))));
        Assert.Contains("not valid for this swarm", e.Message, StringComparison.Ordinal);
        var second = await new JoinClient().JoinAsync(port.HostPort, rotated.Value, new CertificateDirectory(Path.Combine(_dataDir, "c")));
        Assert.Equal(NodeRole.Worker, second.Role);
        using var channel = ClusterChannels.Create(port.HostPort, new NodeSecurity(joined));
        Assert.Equal(joined.NodeId, (await new Probe.Probe.ProbeClient(channel).AnyMemberAsync(new Empty())).NodeId);
        // The manager token was not touched.
        Assert.Equal(NodeRole.Manager, (await new JoinClient().JoinAsync(port.HostPort, port.ManagerToken.Value, new CertificateDirectory(Path.Combine(_dataDir, "d")))).Role);
    }

    [Fact]
    public async Task ATokenOfAnotherSwarm_IsRefusedByTheManager()
    {
        await using var ours = await ManagerPort.StartAsync();
        await using var theirs = await ManagerPort.StartAsync();

        // Asked of their manager directly (no pinning on our side): the digest does not match their CA.
        using var channel = theirs.BootstrapChannel();
        var e = await Assert.ThrowsAsync<RpcException>(() => new NodeCA.NodeCAClient(channel).IssueNodeCertificateAsync(new IssueNodeCertificateRequest
        {
            Csr = Google.Protobuf.ByteString.CopyFrom(Certificates_.Csr()),
            Token = ours.WorkerToken.Value,
        }).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
        Assert.Contains("made for another swarm", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AManagerWhoseCaIsNotTheTokens_IsRefusedBeforeTheTokenIsSent()
    {
        // A man in the middle: a real manager port, but of another CA, answering at the address the node dials.
        var capture = new LogCapture();
        await using var ours = await ManagerPort.StartAsync();
        await using var impostor = await ManagerPort.StartAsync(capture.CreateFactory());

        var e = await Assert.ThrowsAsync<JoinException>(() => new JoinClient().JoinAsync(impostor.HostPort, ours.WorkerToken.Value, Certificates));

        Assert.Contains("presented a root CA whose digest", e.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was sent", e.Message, StringComparison.Ordinal);
        Assert.False(Certificates.Exists);
        // The impostor saw the root CA request, and nothing else: no CSR, no token.
        var requests = capture.Lines.Where(l => l.Contains("Request starting", StringComparison.Ordinal)).ToList();
        Assert.Contains(requests, l => l.Contains("/shoal.api.CA/GetRootCACertificate", StringComparison.Ordinal));
        Assert.DoesNotContain(requests, l => l.Contains("NodeCA", StringComparison.Ordinal));
        Assert.DoesNotContain(ours.WorkerToken.Value[^25..], capture.All, StringComparison.Ordinal);
        Assert.Equal(1, impostor.Store.View().Nodes.Count);
    }

    [Fact]
    public async Task NothingListening_IsReportedAsUnreachable()
    {
        await using var port = await ManagerPort.StartAsync();
        var token = port.WorkerToken.Value;
        var address = port.HostPort;
        await port.DisposeAsync();

        var e = await Assert.ThrowsAsync<JoinException>(() => new JoinClient().JoinAsync(address, token, Certificates));

        Assert.Contains("cannot reach a manager at", e.Message, StringComparison.Ordinal);
    }

    private sealed class SyncProgress(List<string> steps) : IProgress<string>
    {
        public void Report(string value) => steps.Add(value);
    }
}

internal static class Certificates_
{
    public static byte[] Csr()
    {
        using var key = Certificates.NodeKeys.Create();
        return Certificates.NodeKeys.CreateSigningRequest(key);
    }
}
