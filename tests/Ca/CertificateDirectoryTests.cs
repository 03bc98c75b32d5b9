using System.Security.Cryptography;
using Shoal.Api;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;

namespace Shoal.Ca.Tests;

public sealed class CertificateDirectoryTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private readonly string _path = Path.Combine(Directory.CreateTempSubdirectory("shoal-certs-").FullName, "certificates");
    private readonly RootCertificateAuthority _ca = RootCertificateAuthority.Create(Now);

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);
    }

    [Fact]
    public void Credentials_SurviveASaveAndLoad()
    {
        var directory = new CertificateDirectory(_path);
        Assert.Null(directory.Load());
        using var credentials = Issue();

        directory.Save(credentials);
        using var loaded = directory.Load();

        Assert.NotNull(loaded);
        Assert.Equal(credentials.Certificate.Thumbprint, loaded.Certificate.Thumbprint);
        Assert.Equal(credentials.NodeId, loaded.NodeId);
        Assert.True(loaded.Certificate.HasPrivateKey);
        Assert.Equal(credentials.RootCa.Thumbprint, loaded.RootCa.Thumbprint);
    }

    [Fact]
    public void ACrashAfterTheKeyMovedButBeforeTheCertificate_IsCompletedOnLoad()
    {
        var directory = new CertificateDirectory(_path);
        using var first = Issue();
        directory.Save(first);
        using var second = Issue(first.NodeId);
        // What Save leaves behind if the process dies between the two renames.
        File.WriteAllText(Path.Combine(_path, CertificateDirectory.KeyFile), second.ExportKeyPem());
        File.WriteAllText(Path.Combine(_path, CertificateDirectory.CertificateFile + ".new"), second.CertificatePem);

        using var loaded = directory.Load();

        Assert.Equal(second.Certificate.Thumbprint, loaded!.Certificate.Thumbprint);
        Assert.False(File.Exists(Path.Combine(_path, CertificateDirectory.CertificateFile + ".new")));
    }

    [Fact]
    public void ACrashBeforeEitherMove_KeepsTheOldPair()
    {
        var directory = new CertificateDirectory(_path);
        using var first = Issue();
        directory.Save(first);
        using var second = Issue(first.NodeId);
        File.WriteAllText(Path.Combine(_path, CertificateDirectory.KeyFile + ".new"), second.ExportKeyPem());
        File.WriteAllText(Path.Combine(_path, CertificateDirectory.CertificateFile + ".new"), second.CertificatePem);

        using var loaded = directory.Load();

        Assert.Equal(first.Certificate.Thumbprint, loaded!.Certificate.Thumbprint);
        Assert.Empty(Directory.GetFiles(_path, "*.new"));
    }

    [Fact]
    public void AKeyThatIsNotTheCertificates_IsReportedNotUsed()
    {
        var directory = new CertificateDirectory(_path);
        using var first = Issue();
        directory.Save(first);
        using var stranger = Issue();
        File.WriteAllText(Path.Combine(_path, CertificateDirectory.KeyFile), stranger.ExportKeyPem());

        var e = Assert.Throws<CryptographicException>(() => directory.Load());

        Assert.Contains("does not belong", e.Message, StringComparison.Ordinal);
    }

    private NodeCredentials Issue(string nodeId = "node1")
    {
        using var key = NodeKeys.Create();
        using var certificate = _ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), nodeId, NodeRole.Worker, "cluster1", TimeSpan.FromDays(1), Now);
        return NodeCredentials.Create(certificate, key, System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(_ca.CertificatePem));
    }
}
