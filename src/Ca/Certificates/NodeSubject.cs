using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using Shoal.Api;

namespace Shoal.Ca.Certificates;

/// <summary>Who a node certificate names: CN = node ID, OU = role, O = cluster ID.</summary>
public sealed record NodeSubject(string NodeId, NodeRole Role, string ClusterId)
{
    private const string CommonNameOid = "2.5.4.3";
    private const string OrganizationOid = "2.5.4.10";
    private const string OrganizationalUnitOid = "2.5.4.11";

    /// <summary>The distinguished name for a node certificate.</summary>
    public static X500DistinguishedName Create(string nodeId, NodeRole role, string clusterId)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddOrganizationName(clusterId);
        builder.AddOrganizationalUnitName(Roles.ToOrganizationalUnit(role));
        builder.AddCommonName(nodeId);
        return builder.Build();
    }

    /// <summary>
    /// Reads the subject of a node certificate: exactly one CN, one OU naming a role, and one O; anything else is
    /// refused with the reason.
    /// </summary>
    public static bool TryRead(X509Certificate2 certificate, [NotNullWhen(true)] out NodeSubject? subject, [NotNullWhen(false)] out string? error)
    {
        subject = null;
        string? cn = null, ou = null, o = null;
        try
        {
            foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
            {
                if (rdn.HasMultipleElements)
                {
                    error = "the certificate subject has a multi-valued name";
                    return false;
                }

                var oid = rdn.GetSingleElementType().Value;
                var value = rdn.GetSingleElementValue();
                switch (oid)
                {
                    case CommonNameOid when cn is null:
                        cn = value;
                        break;
                    case OrganizationalUnitOid when ou is null:
                        ou = value;
                        break;
                    case OrganizationOid when o is null:
                        o = value;
                        break;
                    case CommonNameOid or OrganizationalUnitOid or OrganizationOid:
                        error = "the certificate subject repeats CN, OU or O";
                        return false;
                    default:
                        break;
                }
            }
        }
        catch (AsnContentException e)
        {
            error = $"the certificate subject cannot be read: {e.Message}";
            return false;
        }

        if (string.IsNullOrEmpty(cn) || string.IsNullOrEmpty(o))
        {
            error = "the certificate subject lacks the node ID (CN) or the cluster ID (O)";
            return false;
        }

        if (Roles.FromOrganizationalUnit(ou) is not { } role)
        {
            error = $"the certificate's OU \"{ou}\" is not a swarm role";
            return false;
        }

        subject = new NodeSubject(cn, role, o);
        error = null;
        return true;
    }

    /// <summary>The OU, as authorization tables name roles.</summary>
    public string RoleName => Roles.ToOrganizationalUnit(Role);
}
