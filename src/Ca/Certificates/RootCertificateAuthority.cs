using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Shoal.Api;

namespace Shoal.Ca.Certificates;

/// <summary>
/// The swarm's root CA: an ECDSA P-256 key and a self-signed certificate (CN <c>swarm-ca</c>, 20 years), which signs
/// node certificates from CSRs. The key lives in the replicated cluster object (encrypted at rest once autolock exists).
/// </summary>
public sealed class RootCertificateAuthority : IDisposable
{
    /// <summary>How long a new root CA is valid.</summary>
    public static readonly TimeSpan RootValidity = TimeSpan.FromDays(365 * 20);

    /// <summary>How far back certificates' validity starts, so clocks a little behind still accept them.</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromHours(1);

    /// <summary>Shortest node certificate validity, whatever the cluster spec asks.</summary>
    public static readonly TimeSpan MinimumNodeValidity = TimeSpan.FromHours(1);

    private readonly ECDsa _key;

    private RootCertificateAuthority(X509Certificate2 certificate, ECDsa key)
    {
        Certificate = certificate;
        _key = key;
        Digest = JoinToken.DigestOf(certificate.RawData);
    }

    /// <summary>The root certificate (public part only).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The base-36 SHA-256 digest of the root certificate, as join tokens carry it.</summary>
    public string Digest { get; }

    /// <summary>PEM of the root certificate.</summary>
    public string CertificatePem => Certificate.ExportCertificatePem();

    /// <summary>Creates a new root CA valid from <paramref name="now"/> minus the backdate for 20 years.</summary>
    public static RootCertificateAuthority Create(DateTimeOffset now)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + Roles.CertificateAuthority), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        var subjectKeyId = new X509SubjectKeyIdentifierExtension(request.PublicKey, false);
        request.CertificateExtensions.Add(subjectKeyId);
        using var withKey = request.CreateSelfSigned(now - Backdate, now - Backdate + RootValidity);
        var certificate = X509CertificateLoader.LoadCertificate(withKey.RawData);
        return new RootCertificateAuthority(certificate, key);
    }

    /// <summary>Loads a root CA from its PEM certificate and PEM (PKCS#8) key, checking that they belong together.</summary>
    public static RootCertificateAuthority FromPem(ReadOnlySpan<char> certificatePem, ReadOnlySpan<char> keyPem)
    {
        var certificate = X509Certificate2.CreateFromPem(certificatePem);
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(keyPem);
            using var publicKey = certificate.GetECDsaPublicKey()
                ?? throw new CryptographicException("the root CA certificate does not hold an ECDSA key");
            if (!publicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new CryptographicException("the root CA key does not belong to the root CA certificate");
            }

            return new RootCertificateAuthority(certificate, key);
        }
        catch
        {
            key.Dispose();
            certificate.Dispose();
            throw;
        }
    }

    /// <summary>Loads the root CA kept in the cluster object.</summary>
    public static RootCertificateAuthority FromCluster(RootCa rootCa) =>
        FromPem(rootCa.CaCert.ToStringUtf8(), rootCa.CaKey.ToStringUtf8());

    /// <summary>PEM (PKCS#8) of the root key. It signs certificates for the whole swarm: keep it in the store only.</summary>
    public string ExportKeyPem() => _key.ExportPkcs8PrivateKeyPem();

    /// <summary>
    /// Signs a node certificate for the public key of <paramref name="csrDer"/> (a PKCS#10 request whose signature is
    /// checked, ECDSA P-256 only): CN = node ID, OU = role, O = cluster ID, SANs the names clients check; valid from
    /// <paramref name="now"/> minus the backdate for <paramref name="validity"/> (at least one hour).
    /// </summary>
    /// <exception cref="CertificateRequestException">The CSR is malformed, badly signed or has another key type.</exception>
    public X509Certificate2 SignNodeCertificate(ReadOnlySpan<byte> csrDer, string nodeId, NodeRole role, string clusterId, TimeSpan validity, DateTimeOffset now)
    {
        CertificateRequest csr;
        try
        {
            csr = CertificateRequest.LoadSigningRequest(csrDer.ToArray(), HashAlgorithmName.SHA256, out var consumed, CertificateRequestLoadOptions.Default);
            if (consumed != csrDer.Length)
            {
                throw new CertificateRequestException("the certificate request has trailing bytes");
            }
        }
        catch (CryptographicException e)
        {
            throw new CertificateRequestException($"the certificate request is not a valid, self-signed PKCS#10 request: {e.Message}", e);
        }

        using (var requested = csr.PublicKey.GetECDsaPublicKey())
        {
            if (requested is null || requested.KeySize != 256 || requested.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            {
                throw new CertificateRequestException("the certificate request must carry an ECDSA P-256 key");
            }
        }

        return SignNodeCertificate(csr.PublicKey, nodeId, role, clusterId, validity, now);
    }

    /// <summary>Signs a node certificate for <paramref name="publicKey"/>; see the CSR overload.</summary>
    public X509Certificate2 SignNodeCertificate(PublicKey publicKey, string nodeId, NodeRole role, string clusterId, TimeSpan validity, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrEmpty(nodeId);
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        if (validity < MinimumNodeValidity)
        {
            validity = MinimumNodeValidity;
        }

        var subject = NodeSubject.Create(nodeId, role, clusterId);
        var request = new CertificateRequest(subject, publicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(Roles.ToOrganizationalUnit(role));
        names.AddDnsName(nodeId);
        if (role == NodeRole.Manager)
        {
            names.AddDnsName(Roles.CertificateAuthority);
        }

        request.CertificateExtensions.Add(names.Build());

        var notBefore = now - Backdate;
        var notAfter = now + validity;
        if (notAfter > Certificate.NotAfter)
        {
            notAfter = Certificate.NotAfter;
        }

        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f;
        var generator = X509SignatureGenerator.CreateForECDsa(_key);
        using var signed = request.Create(Certificate.SubjectName, generator, notBefore, notAfter, serial);
        return X509CertificateLoader.LoadCertificate(signed.RawData);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }
}

/// <summary>A certificate signing request the CA refuses; the message says why.</summary>
public sealed class CertificateRequestException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CertificateRequestException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public CertificateRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CertificateRequestException()
    {
    }
}
