using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Shoal.Api;

namespace Shoal.Ca.Certificates;

/// <summary>
/// A node's TLS identity at one moment: its certificate with the private key, and the root CA it trusts.
/// Immutable; <see cref="NodeSecurity"/> swaps a new one in on renewal.
/// </summary>
public sealed class NodeCredentials : IDisposable
{
    private NodeCredentials(X509Certificate2 certificate, X509Certificate2 rootCa, NodeSubject subject)
    {
        Certificate = certificate;
        RootCa = rootCa;
        Subject = subject;
    }

    /// <summary>The node certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The root CA certificate this node trusts, and only it.</summary>
    public X509Certificate2 RootCa { get; }

    /// <summary>Node ID, role and cluster ID from the certificate.</summary>
    public NodeSubject Subject { get; }

    /// <summary>The node ID.</summary>
    public string NodeId => Subject.NodeId;

    /// <summary>The role the certificate grants.</summary>
    public NodeRole Role => Subject.Role;

    /// <summary>The cluster ID.</summary>
    public string ClusterId => Subject.ClusterId;

    /// <summary>Start of validity.</summary>
    public DateTimeOffset NotBefore => Certificate.NotBefore.ToUniversalTime();

    /// <summary>End of validity.</summary>
    public DateTimeOffset NotAfter => Certificate.NotAfter.ToUniversalTime();

    /// <summary>
    /// Builds credentials from PEM, checking that the key belongs to the certificate, that the certificate chains to
    /// the root and that its subject names a node.
    /// </summary>
    /// <exception cref="CryptographicException">The parts do not belong together.</exception>
    public static NodeCredentials FromPem(string certificatePem, string keyPem, string rootCaPem)
    {
        using var publicOnly = X509Certificate2.CreateFromPem(certificatePem);
        using var key = ECDsa.Create();
        key.ImportFromPem(keyPem);
        return Create(publicOnly, key, X509Certificate2.CreateFromPem(rootCaPem));
    }

    /// <summary>Builds credentials from a certificate and the key it was issued for; see <see cref="FromPem"/>.</summary>
    public static NodeCredentials Create(X509Certificate2 certificate, ECDsa key, X509Certificate2 rootCa)
    {
        X509Certificate2 withKey;
        try
        {
            withKey = certificate.CopyWithPrivateKey(key);
        }
        catch (ArgumentException e)
        {
            throw new CryptographicException("the node key does not belong to the node certificate", e);
        }

        // The copy holds its own handle to the key (on Linux the key handle is duplicated), so the caller may dispose theirs.
        var detached = withKey;
        if (!NodeSubject.TryRead(detached, out var subject, out var error))
        {
            detached.Dispose();
            throw new CryptographicException(error);
        }

        // Checked at the start of the validity, not now: an expired certificate still loads, so that the node can say
        // it expired and renew or re-join rather than fail to read its own files.
        if (!TrustAnchor.ChainsTo(detached, rootCa, detached.NotBefore.ToUniversalTime().AddMinutes(1), out var chainError))
        {
            detached.Dispose();
            throw new CryptographicException($"the node certificate is not signed by the root CA: {chainError}");
        }

        return new NodeCredentials(detached, rootCa, subject);
    }

    /// <summary>PEM of the node certificate.</summary>
    public string CertificatePem => Certificate.ExportCertificatePem();

    /// <summary>PEM (PKCS#8) of the node key. Secret: write it only to a 0600 file.</summary>
    public string ExportKeyPem()
    {
        using var key = Certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the node certificate has no private key");
        return key.ExportPkcs8PrivateKeyPem();
    }

    /// <summary>PEM of the root CA certificate.</summary>
    public string RootCaPem => RootCa.ExportCertificatePem();

    /// <inheritdoc/>
    public void Dispose()
    {
        Certificate.Dispose();
        RootCa.Dispose();
    }
}

/// <summary>Node keys and certificate requests: a node makes its own key, and the key never leaves it.</summary>
public static class NodeKeys
{
    /// <summary>A new ECDSA P-256 key.</summary>
    public static ECDsa Create() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>A PKCS#10 request (DER) for <paramref name="key"/>; the CA chooses the subject, so it is left minimal.</summary>
    public static byte[] CreateSigningRequest(ECDsa key)
    {
        var request = new CertificateRequest(new X500DistinguishedName("CN=swarm-node"), key, HashAlgorithmName.SHA256);
        return request.CreateSigningRequest();
    }
}
