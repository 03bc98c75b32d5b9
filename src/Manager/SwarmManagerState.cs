using Grpc.Core;
using Shoal.Raft;
using Shoal.Store;

namespace Shoal.Manager;

/// <summary>
/// The manager's Raft member and store, for the cluster port's services, which start before the member does (the
/// member needs the port to be reached). Until the member runs, the services answer Unavailable.
/// </summary>
public sealed class SwarmManagerState(MemoryStore store)
{
    private volatile RaftNode? _raft;

    /// <summary>The replicated store.</summary>
    public MemoryStore Store { get; } = store;

    /// <summary>The Raft member, once started.</summary>
    public RaftNode? Raft
    {
        get => _raft;
        internal set => _raft = value;
    }

    /// <summary>The member and the store.</summary>
    /// <exception cref="RpcException">Unavailable: the member is not started yet.</exception>
    public (RaftNode Raft, MemoryStore Store) Require() =>
        (_raft ?? throw new RpcException(new Status(StatusCode.Unavailable, "this manager is starting; retry in a moment")), Store);
}
