using Shoal.Api;

namespace Shoal.Manager.ControlApi;

/// <summary>The filters of <c>ListNodes</c>: each list of IDs, names, roles or memberships is an OR of its entries; label
/// entries must all match (Docker's <c>label</c> and <c>node.label</c> filters); the lists are ANDed; an empty list passes all.</summary>
internal static class NodeFilter
{
    public static bool Matches(Node node, ListNodesRequest.Types.Filters filters) =>
        FilterMatch.AnyPrefix(filters.IdPrefixes, node.Id)
        && (filters.NamePrefixes.Count == 0
            || FilterMatch.AnyPrefix(filters.NamePrefixes, node.Spec?.Annotations?.Name)
            || FilterMatch.AnyPrefix(filters.NamePrefixes, node.Description?.Hostname))
        && FilterMatch.AllLabels(filters.Labels, node.Description?.Engine?.Labels)
        && FilterMatch.AllLabels(filters.NodeLabels, node.Spec?.Annotations?.Labels)
        && (filters.Roles.Count == 0 || filters.Roles.Contains(node.Role))
        && (filters.Memberships.Count == 0 || filters.Memberships.Contains(node.Spec?.Membership ?? NodeMembership.Pending));
}
