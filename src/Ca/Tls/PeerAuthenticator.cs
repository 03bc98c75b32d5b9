using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Ca.Certificates;

namespace Shoal.Ca.Tls;

/// <summary>
/// Decides whether a peer certificate belongs to a live member of our swarm: it chains to our root CA (and nothing
/// else), is within its validity, names a node and a role, carries our cluster ID, and its node was not removed.
/// The handshake runs the whole check; each call re-checks what can change under an open connection (expiry, removal).
/// </summary>
public sealed partial class PeerAuthenticator(NodeSecurity security, IRemovedNodes removedNodes, ILogger<PeerAuthenticator>? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger<PeerAuthenticator>.Instance;
    private readonly ConditionalWeakTable<X509Certificate2, NodeSubject> _subjects = [];

    /// <summary>
    /// The TLS handshake check for a presented client certificate; the reason of a refusal is logged.
    /// <paramref name="chainValid"/> says the handshake already built the chain against our root only and found it
    /// good, so it is not built again; otherwise it is (and on a failure, only to say why).
    /// </summary>
    public bool ValidateHandshake(X509Certificate2 certificate, bool chainValid = false)
    {
        string? error;
        if (!chainValid && !TrustAnchor.ChainsTo(certificate, security.Current.RootCa, security.TimeProvider.GetUtcNow(), out error))
        {
            LogRefused(_logger, certificate.Subject, error);
            return false;
        }

        if (!TryIdentify(certificate, out _, out error))
        {
            LogRefused(_logger, certificate.Subject, error);
            return false;
        }

        return true;
    }

    /// <summary>Whether <paramref name="nodeId"/> was removed from the swarm (its certificates are refused).</summary>
    public bool IsRemoved(string nodeId) => removedNodes.IsRemoved(nodeId);

    /// <summary>
    /// The identity of an already validated certificate, re-checked for expiry, the cluster and removal.
    /// </summary>
    public bool TryIdentify(X509Certificate2 certificate, [NotNullWhen(true)] out PeerIdentity? identity, [NotNullWhen(false)] out string? error)
    {
        identity = null;
        var now = security.TimeProvider.GetUtcNow();
        if (now > certificate.NotAfter.ToUniversalTime())
        {
            error = $"the certificate expired at {certificate.NotAfter.ToUniversalTime():O}";
            return false;
        }

        // The subject is parsed once per certificate object (one per connection), not on every call.
        if (!_subjects.TryGetValue(certificate, out var subject))
        {
            if (!NodeSubject.TryRead(certificate, out subject, out error))
            {
                return false;
            }

            _subjects.AddOrUpdate(certificate, subject);
        }

        if (subject.ClusterId != security.ClusterId)
        {
            error = $"the certificate is for cluster {subject.ClusterId}, not this one";
            return false;
        }

        if (removedNodes.IsRemoved(subject.NodeId))
        {
            error = $"node {subject.NodeId} was removed from the swarm; join it again with a token";
            return false;
        }

        identity = new PeerIdentity(subject.NodeId, subject.Role, subject.ClusterId);
        error = null;
        return true;
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Refused the client certificate {Subject}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string subject, string reason);
}
