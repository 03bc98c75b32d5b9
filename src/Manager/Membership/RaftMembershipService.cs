using Grpc.Core;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Authorization;
using Shoal.Raft;

namespace Shoal.Manager.Membership;

/// <summary>
/// Adds managers to the Raft group (on the leader; followers relay the call). The caller must hold a manager
/// certificate and be a manager in the store; joining again (a retry, or a new address) is answered with the same
/// Raft ID. It answers as soon as the change is committed: from then on the group needs the newcomer for a quorum
/// (from one member to two), so nothing else may wait on the way. The role manager records the new manager's status
/// on its node object afterwards.
/// </summary>
public sealed class RaftMembershipService(SwarmManagerState state) : RaftMembership.RaftMembershipBase
{
    /// <inheritdoc/>
    public override async Task<RaftJoinResponse> Join(RaftJoinRequest request, ServerCallContext context)
    {
        var caller = context.GetCaller() ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "joining the managers needs a manager certificate"));
        var (raft, store) = state.Require();
        if (string.IsNullOrWhiteSpace(request.Addr))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the joining manager must give the address other managers reach it at"));
        }

        var node = store.View().Nodes.Get(caller.NodeId);
        if (node is null || node.Role != NodeRole.Manager)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"node {caller.NodeId} is not a manager in this swarm's store; it cannot join the managers"));
        }

        var member = raft.Members.FirstOrDefault(m => m.NodeId == caller.NodeId);
        try
        {
            if (member is null)
            {
                member = new RaftMember { RaftId = NewRaftId(raft), NodeId = caller.NodeId, Addr = request.Addr };
                await raft.AddMemberAsync(member, context.CancellationToken).ConfigureAwait(false);
            }
            else if (member.Addr != request.Addr)
            {
                member = new RaftMember(member) { Addr = request.Addr };
                await raft.AddMemberAsync(member, context.CancellationToken).ConfigureAwait(false);
            }

        }
        catch (Exception e) when (e is Raft.Core.NotLeaderException or LeadershipLostException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "leadership changed while adding the manager; retry"));
        }

        var response = new RaftJoinResponse { RaftId = member.RaftId };
        response.Members.AddRange(raft.Members);
        if (response.Members.All(m => m.RaftId != member.RaftId))
        {
            response.Members.Add(member);
        }

        return response;
    }

    private static ulong NewRaftId(RaftNode raft)
    {
        while (true)
        {
            var id = (ulong)Random.Shared.NextInt64(1, long.MaxValue);
            if (raft.Members.All(m => m.RaftId != id))
            {
                return id;
            }
        }
    }
}

/// <summary>Serving Raft membership on a cluster port.</summary>
public static class RaftMembershipPortExtensions
{
    /// <summary>Serves <see cref="RaftMembershipService"/>; needs a <see cref="SwarmManagerState"/> registered.</summary>
    public static ClusterPortBuilder MapRaftMembership(this ClusterPortBuilder port) =>
        port.MapService<RaftMembershipService>(RaftMembership.Descriptor);
}
