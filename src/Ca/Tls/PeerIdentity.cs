using Shoal.Api;

namespace Shoal.Ca.Tls;

/// <summary>Who called: from the peer certificate, checked against the swarm (or anonymous on a bootstrap method).</summary>
public sealed record PeerIdentity(string NodeId, NodeRole Role, string ClusterId)
{
    /// <summary>The OU form of the role, as the authorization table names it.</summary>
    public string RoleName => Roles.ToOrganizationalUnit(Role);
}
