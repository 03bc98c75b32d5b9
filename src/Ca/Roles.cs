using Shoal.Api;

namespace Shoal.Ca;

/// <summary>
/// The role names a certificate carries in its OU, and the DNS names in its SANs (as SwarmKit: clients dial a
/// manager under the name <see cref="Manager"/>, whatever its address).
/// </summary>
public static class Roles
{
    /// <summary>OU of a manager's certificate, and the name clients expect on a manager's server certificate.</summary>
    public const string Manager = "swarm-manager";

    /// <summary>OU of a worker's certificate.</summary>
    public const string Worker = "swarm-worker";

    /// <summary>Common name of the root CA, and a SAN of managers' certificates.</summary>
    public const string CertificateAuthority = "swarm-ca";

    /// <summary>The OU for <paramref name="role"/>.</summary>
    public static string ToOrganizationalUnit(NodeRole role) => role switch
    {
        NodeRole.Manager => Manager,
        NodeRole.Worker => Worker,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "unknown node role"),
    };

    /// <summary>The role an OU names, or null when it names none.</summary>
    public static NodeRole? FromOrganizationalUnit(string? ou) => ou switch
    {
        Manager => NodeRole.Manager,
        Worker => NodeRole.Worker,
        _ => null,
    };
}
