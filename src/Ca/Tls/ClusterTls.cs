using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Shoal.Ca.Certificates;

namespace Shoal.Ca.Tls;

/// <summary>
/// TLS settings of the cluster port, both sides: TLS 1.2 or 1.3, ECDHE-ECDSA AES-GCM / ChaCha20 suites only, trust in
/// the swarm's root CA only, and the node certificate chosen at each handshake.
/// </summary>
public static class ClusterTls
{
    /// <summary>Protocol versions allowed.</summary>
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    private static readonly TlsCipherSuite[] Suites =
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];

    /// <summary>The cipher suites, where the platform lets us choose them (Linux and macOS); null elsewhere.</summary>
    public static CipherSuitesPolicy? CipherSuites { get; } = CreatePolicy();

    /// <summary>
    /// Server options for one new connection: the node's current certificate, a client certificate requested (and
    /// validated against the root CA and the swarm if presented; a connection without one reaches only the bootstrap
    /// methods, which the port's gate enforces), HTTP/2 only.
    /// </summary>
    public static SslServerAuthenticationOptions ServerOptions(NodeSecurity security, PeerAuthenticator authenticator) => new()
    {
        ServerCertificateContext = security.ServerCertificateContext,
        ClientCertificateRequired = true,
        // The handshake builds the client's chain against our root only, once; the callback adds the swarm checks.
        CertificateChainPolicy = TrustAnchor.Policy(security.Current.RootCa, security.TimeProvider.GetUtcNow()),
        RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            certificate is null || authenticator.ValidateHandshake(
                certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()),
                chainValid: (errors & SslPolicyErrors.RemoteCertificateChainErrors) == 0),
        EnabledSslProtocols = Protocols,
        CipherSuitesPolicy = CipherSuites,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        ApplicationProtocols = [SslApplicationProtocol.Http2],
    };

    /// <summary>
    /// Client options: present the node's current certificate (none when <paramref name="security"/> is null, for
    /// the join bootstrap) and accept only a manager of our swarm whose certificate chains to
    /// <paramref name="rootCa"/>. With <paramref name="rootCa"/> null, any server is accepted: only for fetching the
    /// root CA certificate, which the caller then checks against its token's digest.
    /// </summary>
    public static SslClientAuthenticationOptions ClientOptions(NodeSecurity? security, Func<X509Certificate2>? rootCa, string? clusterId, TimeProvider timeProvider)
    {
        var options = new SslClientAuthenticationOptions
        {
            EnabledSslProtocols = Protocols,
            CipherSuitesPolicy = CipherSuites,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                if (rootCa is null)
                {
                    return true;
                }

                using var server = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                return server is not null && ValidateManager(server, rootCa(), clusterId ?? security?.ClusterId, timeProvider.GetUtcNow(), out _);
            },
        };
        if (security is not null)
        {
            options.LocalCertificateSelectionCallback = (_, _, _, _, _) => security.Current.Certificate;
        }

        return options;
    }

    /// <summary>
    /// Whether <paramref name="server"/> is a manager of the swarm: it chains to the root, its OU is the manager role,
    /// it carries the manager SAN, and (when known) its O is our cluster ID.
    /// </summary>
    public static bool ValidateManager(X509Certificate2 server, X509Certificate2 rootCa, string? clusterId, DateTimeOffset now, out string? error)
    {
        if (!TrustAnchor.ChainsTo(server, rootCa, now, out error))
        {
            return false;
        }

        if (!NodeSubject.TryRead(server, out var subject, out error))
        {
            return false;
        }

        if (subject.Role != Api.NodeRole.Manager || !HasDnsName(server, Roles.Manager))
        {
            error = $"the server's certificate is for a {subject.RoleName}, not a manager";
            return false;
        }

        if (clusterId is not null && subject.ClusterId != clusterId)
        {
            error = $"the server belongs to cluster {subject.ClusterId}, not {clusterId}";
            return false;
        }

        return true;
    }

    private static bool HasDnsName(X509Certificate2 certificate, string name)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509SubjectAlternativeNameExtension san && san.EnumerateDnsNames().Contains(name, StringComparer.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static CipherSuitesPolicy? CreatePolicy()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return null;
        }

        return new CipherSuitesPolicy(Suites);
    }
}
