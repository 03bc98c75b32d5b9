using Grpc.Core;
using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Ca.Client;
using Shoal.Ca.Tests.Probe;

namespace Shoal.Ca.Tests;

/// <summary>Join tokens and private keys never reach the logs, at any level, on either side.</summary>
public sealed class SecretsInLogsTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("shoal-logs-").FullName;

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    [Fact]
    public async Task JoinsRenewalsRefusalsAndRotations_LogNoTokenAndNoKey()
    {
        var capture = new LogCapture();
        using var factory = capture.CreateFactory();
        await using var port = await ManagerPort.StartAsync(factory);
        var workerToken = port.WorkerToken.Value;
        var managerToken = port.ManagerToken.Value;
        var certificates = new CertificateDirectory(Path.Combine(_dataDir, "certificates"));

        // A successful join, a renewal, refused joins (wrong secret, malformed), a rotation, a refused call.
        var joined = await new JoinClient(logger: factory.CreateLogger<JoinClient>()).JoinAsync(port.HostPort, workerToken, certificates);
        var security = new NodeSecurity(joined);
        using var channel = ClusterChannels.Create(port.HostPort, security);
        var renewed = await new CertificateRenewer(security, certificates, () => channel.CreateCallInvoker(), logger: factory.CreateLogger<CertificateRenewer>()).RenewAsync();
        var wrong = workerToken[..^25] + new string('z', 25);
        await Assert.ThrowsAsync<JoinException>(() => new JoinClient(logger: factory.CreateLogger<JoinClient>()).JoinAsync(port.HostPort, wrong, new CertificateDirectory(Path.Combine(_dataDir, "x"))));
        await Assert.ThrowsAsync<JoinException>(() => new JoinClient(logger: factory.CreateLogger<JoinClient>()).JoinAsync(port.HostPort, workerToken + "x", new CertificateDirectory(Path.Combine(_dataDir, "y"))));
        var rotated = await ClusterSecurity.RotateJoinTokenAsync(port.Store, NodeRole.Manager);
        await Assert.ThrowsAsync<RpcException>(() => new Probe.Probe.ProbeClient(channel).ManagerOnlyAsync(new Empty()).ResponseAsync);

        var logs = capture.All;
        Assert.NotEmpty(capture.Lines);
        Assert.Contains(joined.NodeId, logs, StringComparison.Ordinal); // the capture does see what happened
        foreach (var token in new[] { workerToken, managerToken, wrong, rotated.Value })
        {
            Assert.DoesNotContain(token[^JoinToken.SecretLength..], logs, StringComparison.Ordinal);
        }

        foreach (var key in new[] { joined.ExportKeyPem(), renewed.ExportKeyPem(), port.Cluster.RootCa.CaKey.ToStringUtf8() })
        {
            var body = key.Split('\n')[1]; // the first line of base64 after the PEM header
            Assert.DoesNotContain(body, logs, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("PRIVATE KEY", logs, StringComparison.Ordinal);
    }
}
