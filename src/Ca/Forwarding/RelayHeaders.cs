using System.Diagnostics.CodeAnalysis;
using Shoal.Ca.Tls;

namespace Shoal.Ca.Forwarding;

/// <summary>
/// The metadata a follower adds to a call it relays to the leader: who the original caller is (as the follower
/// authenticated it) and where it called from. The leader believes them only from a manager's certificate.
/// </summary>
public static class RelayHeaders
{
    /// <summary>"&lt;node ID&gt; &lt;role OU&gt;", or "anonymous" for a caller without a certificate.</summary>
    public const string ForwardedFor = "shoal-forwarded-for";

    /// <summary>The original caller's address, as gRPC names peers ("ipv4:10.0.0.5:41234").</summary>
    public const string ForwardedAddress = "shoal-forwarded-addr";

    /// <summary>The value for a caller without a certificate (a joining node on a bootstrap method).</summary>
    public const string Anonymous = "anonymous";

    /// <summary>The <see cref="ForwardedFor"/> value naming <paramref name="caller"/>.</summary>
    public static string Format(PeerIdentity? caller) => caller is null ? Anonymous : $"{caller.NodeId} {caller.RoleName}";

    /// <summary>Reads a <see cref="ForwardedFor"/> value; false for an anonymous (or unreadable) caller.</summary>
    public static bool TryParseCaller(string value, string clusterId, [NotNullWhen(true)] out PeerIdentity? caller)
    {
        caller = null;
        var parts = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || Roles.FromOrganizationalUnit(parts[1]) is not { } role)
        {
            return false;
        }

        caller = new PeerIdentity(parts[0], role, clusterId);
        return true;
    }
}
