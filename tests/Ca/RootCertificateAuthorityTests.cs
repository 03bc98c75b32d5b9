using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Shoal.Api;
using Shoal.Ca.Certificates;

namespace Shoal.Ca.Tests;

public sealed class RootCertificateAuthorityTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ANewRoot_IsASelfSignedP256Ca_ValidForTwentyYears_Backdated()
    {
        using var ca = RootCertificateAuthority.Create(Now);
        var root = ca.Certificate;

        Assert.Equal("CN=swarm-ca", root.Subject);
        Assert.Equal(root.Subject, root.Issuer);
        using var key = root.GetECDsaPublicKey()!;
        Assert.Equal(ECCurve.NamedCurves.nistP256.Oid.Value, key.ExportParameters(false).Curve.Oid.Value);
        Assert.True(root.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(Now - TimeSpan.FromHours(1), new DateTimeOffset(root.NotBefore.ToUniversalTime()));
        Assert.Equal(TimeSpan.FromDays(365 * 20), root.NotAfter - root.NotBefore);
        Assert.False(root.HasPrivateKey);
    }

    [Fact]
    public void ARootSurvivesAPemRoundTrip_AndAMismatchedKeyIsRefused()
    {
        using var ca = RootCertificateAuthority.Create(Now);
        using var other = RootCertificateAuthority.Create(Now);

        using var loaded = RootCertificateAuthority.FromPem(ca.CertificatePem, ca.ExportKeyPem());

        Assert.Equal(ca.Digest, loaded.Digest);
        var e = Assert.Throws<CryptographicException>(() => RootCertificateAuthority.FromPem(ca.CertificatePem, other.ExportKeyPem()));
        Assert.Contains("does not belong", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(NodeRole.Worker, "swarm-worker")]
    [InlineData(NodeRole.Manager, "swarm-manager")]
    public void ANodeCertificate_NamesTheNodeRoleAndCluster_AndChainsToTheRoot(NodeRole role, string ou)
    {
        using var ca = RootCertificateAuthority.Create(Now);
        using var key = NodeKeys.Create();

        using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), "node1", role, "cluster1", TimeSpan.FromDays(90), Now);

        Assert.True(NodeSubject.TryRead(certificate, out var subject, out var error), error);
        Assert.Equal(new NodeSubject("node1", role, "cluster1"), subject);
        Assert.Contains($"OU={ou}", certificate.Subject, StringComparison.Ordinal);
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames().ToList();
        Assert.Contains(ou, names);
        Assert.Contains("node1", names);
        Assert.Equal(role == NodeRole.Manager, names.Contains("swarm-ca"));
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value).ToList();
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], usages);
        Assert.False(certificate.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(Now - TimeSpan.FromHours(1), new DateTimeOffset(certificate.NotBefore.ToUniversalTime()));
        Assert.Equal(Now + TimeSpan.FromDays(90), new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));
        Assert.True(TrustAnchor.ChainsTo(certificate, ca.Certificate, Now, out var chainError), chainError);
        using var certified = certificate.GetECDsaPublicKey()!;
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), certified.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void AValidityUnderAnHour_IsRaisedToAnHour()
    {
        using var ca = RootCertificateAuthority.Create(Now);
        using var key = NodeKeys.Create();

        using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), "n", NodeRole.Worker, "c", TimeSpan.FromMinutes(5), Now);

        Assert.Equal(Now + TimeSpan.FromHours(1), new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));
    }

    [Fact]
    public void ANodeCertificate_NeverOutlivesTheRoot()
    {
        using var ca = RootCertificateAuthority.Create(Now);
        using var key = NodeKeys.Create();

        using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), "n", NodeRole.Worker, "c", TimeSpan.FromDays(365 * 30), Now);

        Assert.Equal(ca.Certificate.NotAfter, certificate.NotAfter);
    }

    [Fact]
    public void GarbageATamperedCsrOrAnRsaKey_AreRefused()
    {
        using var ca = RootCertificateAuthority.Create(Now);
        using var key = NodeKeys.Create();
        var csr = NodeKeys.CreateSigningRequest(key);
        var tampered = (byte[])csr.Clone();
        tampered[^5] ^= 0x55;
        using var rsa = RSA.Create(2048);
        var rsaCsr = new CertificateRequest("CN=x", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest();
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var p384Csr = new CertificateRequest("CN=x", p384, HashAlgorithmName.SHA256).CreateSigningRequest();

        Assert.Throws<CertificateRequestException>(() => ca.SignNodeCertificate([1, 2, 3], "n", NodeRole.Worker, "c", TimeSpan.FromDays(1), Now));
        Assert.Throws<CertificateRequestException>(() => ca.SignNodeCertificate(tampered, "n", NodeRole.Worker, "c", TimeSpan.FromDays(1), Now));
        Assert.Contains("ECDSA P-256", Assert.Throws<CertificateRequestException>(() => ca.SignNodeCertificate(rsaCsr, "n", NodeRole.Worker, "c", TimeSpan.FromDays(1), Now)).Message, StringComparison.Ordinal);
        Assert.Throws<CertificateRequestException>(() => ca.SignNodeCertificate(p384Csr, "n", NodeRole.Worker, "c", TimeSpan.FromDays(1), Now));
        Assert.Throws<CertificateRequestException>(() => ca.SignNodeCertificate([.. csr, 0], "n", NodeRole.Worker, "c", TimeSpan.FromDays(1), Now));
    }

    [Fact]
    public void TheChainCheck_RefusesAnotherRoot_AndTimesOutsideTheValidity()
    {
        using var ca = RootCertificateAuthority.Create(Now);
        using var other = RootCertificateAuthority.Create(Now);
        using var key = NodeKeys.Create();
        using var certificate = ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), "n", NodeRole.Worker, "c", TimeSpan.FromDays(1), Now);

        Assert.False(TrustAnchor.ChainsTo(certificate, other.Certificate, Now, out var error));
        Assert.Contains("not signed by the swarm's root CA", error, StringComparison.Ordinal);
        Assert.False(TrustAnchor.ChainsTo(certificate, ca.Certificate, Now + TimeSpan.FromDays(2), out error));
        Assert.Contains("expired", error, StringComparison.Ordinal);
        Assert.False(TrustAnchor.ChainsTo(certificate, ca.Certificate, Now - TimeSpan.FromHours(2), out error));
        Assert.False(TrustAnchor.ChainsTo(ca.Certificate, ca.Certificate, Now, out _)); // the root is not a node
    }
}
