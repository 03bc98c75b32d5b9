using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;

namespace Shoal.Ca.Certificates;

/// <summary>Chain validation against the swarm's root CA only (custom root trust), never the OS store.</summary>
public static class TrustAnchor
{
    /// <summary>A chain policy that trusts <paramref name="root"/> and nothing else, checked at <paramref name="at"/>.</summary>
    public static X509ChainPolicy Policy(X509Certificate2 root, DateTimeOffset at)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            VerificationTime = at.UtcDateTime,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.Add(root);
        return policy;
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> chains to <paramref name="root"/> and is valid at <paramref name="at"/>;
    /// the error names the first problem found.
    /// </summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2 root, DateTimeOffset at, [NotNullWhen(false)] out string? error)
    {
        if (at < certificate.NotBefore.ToUniversalTime())
        {
            error = $"the certificate is not valid before {certificate.NotBefore.ToUniversalTime():O}";
            return false;
        }

        if (at > certificate.NotAfter.ToUniversalTime())
        {
            error = $"the certificate expired at {certificate.NotAfter.ToUniversalTime():O}";
            return false;
        }

        using var chain = new X509Chain { ChainPolicy = Policy(root, at) };
        if (chain.Build(certificate))
        {
            // The chain must end at our root, and the leaf must not be the root itself.
            var anchor = chain.ChainElements[^1].Certificate;
            if (chain.ChainElements.Count >= 2 && anchor.RawDataMemory.Span.SequenceEqual(root.RawDataMemory.Span))
            {
                error = null;
                return true;
            }

            error = "the certificate does not chain to the swarm's root CA";
            return false;
        }

        var statuses = chain.ChainStatus.Select(s => s.Status == X509ChainStatusFlags.UntrustedRoot || s.Status == X509ChainStatusFlags.PartialChain
            ? "it is not signed by the swarm's root CA"
            : s.StatusInformation.Trim());
        error = "the certificate chain is not valid: " + string.Join("; ", statuses.Distinct());
        return false;
    }
}
