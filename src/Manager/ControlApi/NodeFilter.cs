using Google.Protobuf.Collections;
using Shoal.Api;

namespace Shoal.Manager.ControlApi;

/// <summary>The filters of <c>ListNodes</c>: each list is an OR of its entries, the lists are ANDed, an empty list passes all.</summary>
internal static class NodeFilter
{
    public static bool Matches(Node node, ListNodesRequest.Types.Filters filters) =>
        AnyPrefix(filters.IdPrefixes, node.Id)
        && (filters.NamePrefixes.Count == 0
            || AnyPrefix(filters.NamePrefixes, node.Spec?.Annotations?.Name)
            || AnyPrefix(filters.NamePrefixes, node.Description?.Hostname))
        && Labels(filters.Labels, node.Description?.Engine?.Labels)
        && Labels(filters.NodeLabels, node.Spec?.Annotations?.Labels)
        && (filters.Roles.Count == 0 || filters.Roles.Contains(node.Role))
        && (filters.Memberships.Count == 0 || filters.Memberships.Contains(node.Spec?.Membership ?? NodeMembership.Pending));

    private static bool AnyPrefix(RepeatedField<string> prefixes, string? value)
    {
        if (prefixes.Count == 0)
        {
            return true;
        }

        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        foreach (var prefix in prefixes)
        {
            if (value.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>"key" matches a label present with any value; "key=value" an exact value.</summary>
    private static bool Labels(RepeatedField<string> wanted, MapField<string, string>? labels)
    {
        if (wanted.Count == 0)
        {
            return true;
        }

        if (labels is null)
        {
            return false;
        }

        foreach (var entry in wanted)
        {
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0 ? labels.ContainsKey(entry) : labels.TryGetValue(entry[..equals], out var value) && value == entry[(equals + 1)..])
            {
                return true;
            }
        }

        return false;
    }
}
