using Shoal.Store;

namespace Shoal.Ca;

/// <summary>Nodes removed from the swarm, whose certificates are refused from then on even though they are still valid.</summary>
public interface IRemovedNodes
{
    /// <summary>Whether <paramref name="nodeId"/> was removed.</summary>
    bool IsRemoved(string nodeId);
}

/// <summary>Nobody was removed: for a node that holds no store (a worker) and for tests.</summary>
public sealed class NoRemovedNodes : IRemovedNodes
{
    /// <summary>The instance.</summary>
    public static readonly NoRemovedNodes Instance = new();

    /// <inheritdoc/>
    public bool IsRemoved(string nodeId) => false;
}

/// <summary>The removed nodes as the replicated cluster object lists them (its blacklisted certificates).</summary>
public sealed class StoreRemovedNodes(MemoryStore store) : IRemovedNodes
{
    /// <inheritdoc/>
    public bool IsRemoved(string nodeId)
    {
        var cluster = ClusterSecurity.FindCluster(store.View());
        return cluster is not null && cluster.BlacklistedCertificates.ContainsKey(nodeId);
    }
}
